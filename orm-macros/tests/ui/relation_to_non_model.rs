use orm::prelude::*;

struct NotAModel {
    id: i64,
}

#[derive(Model)]
struct Post {
    id: Auto<i64>,
    author: ForeignKey<NotAModel>,
}

fn main() {}
