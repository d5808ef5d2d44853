use orm::prelude::*;

#[derive(Model)]
#[orm(app = "blog", orderng = ["title"])]
struct Post {
    id: Auto<i64>,
    title: String,
}

fn main() {}
