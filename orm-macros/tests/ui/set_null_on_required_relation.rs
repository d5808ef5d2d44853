use orm::prelude::*;

#[derive(Model)]
struct Author {
    id: Auto<i64>,
}

#[derive(Model)]
struct Post {
    id: Auto<i64>,
    #[orm(on_delete = SetNull)]
    author: ForeignKey<Author>,
}

fn main() {}
