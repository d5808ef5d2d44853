use orm::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(app = "blog")]
pub struct Post {
    pub id: Auto<i64>,
    #[orm(max_length = 100)]
    pub title: String,
    #[orm(default = 0)]
    pub views: i64,
}

fn main() {
    // `title` has no default: leaving it out does not compile.
    let _ = NewPost {}.build();
}
