use orm::prelude::*;

#[derive(Model)]
struct Post {
    id: Auto<i64>,
    #[orm(max_length = 20, related_query_name = "post")]
    title: String,
}

fn main() {}
