use orm::prelude::*;

#[derive(Model)]
struct Orphan {
    name: String,
}

fn main() {}
