use orm::prelude::*;

struct Colour {
    r: u8,
}

#[derive(Model)]
struct Paint {
    id: Auto<i64>,
    colour: Colour,
}

fn main() {}
