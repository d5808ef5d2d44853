use orm::prelude::*;

#[derive(Model)]
struct Note {
    id: Auto<i64>,
    #[orm(index = false)]
    text: String,
}

fn main() {}
