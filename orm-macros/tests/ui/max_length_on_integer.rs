use orm::prelude::*;

#[derive(Model)]
struct Post {
    id: Auto<i64>,
    #[orm(max_length = 10)]
    views: i64,
}

fn main() {}
