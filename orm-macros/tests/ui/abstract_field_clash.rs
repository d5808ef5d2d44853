use orm::prelude::*;

#[derive(Model)]
#[orm(abstract)]
struct Named {
    name: String,
}

#[derive(Model)]
struct Person {
    id: Auto<i64>,
    #[orm(base)]
    named: Named,
    name: String,
}

fn main() {}
