use orm::prelude::*;

#[derive(Model)]
enum Status {
    Draft,
    Published,
}

fn main() {}
