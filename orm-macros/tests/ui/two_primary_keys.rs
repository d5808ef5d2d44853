use orm::prelude::*;

#[derive(Model)]
struct Account {
    #[orm(primary_key)]
    code: String,
    #[orm(primary_key)]
    number: i64,
}

fn main() {}
