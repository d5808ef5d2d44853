use orm::prelude::*;

#[derive(Model)]
struct Post {
    id: Auto<i64>,
    #[orm(max_lenght = 20)]
    title: String,
}

fn main() {}
