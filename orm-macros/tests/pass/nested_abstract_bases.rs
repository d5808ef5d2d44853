use orm::prelude::*;

#[derive(Model)]
#[orm(abstract)]
pub struct Named {
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model)]
#[orm(abstract, ordering = ["name"])]
pub struct Described {
    #[orm(base)]
    pub named: Named,
    pub description: Option<String>,
}

#[derive(Model)]
#[orm(abstract)]
pub struct Counted {
    pub count: i64,
}

#[derive(Model)]
#[orm(app = "shop")]
pub struct Product {
    pub id: Auto<i64>,
    #[orm(base)]
    pub described: Described,
    #[orm(base)]
    pub counted: Counted,
    pub price: i64,
}

fn main() {
    let names: Vec<&str> = Product::meta().fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["id", "name", "description", "count", "price"]);
    assert_eq!(Product::meta().ordering, ["name"]);
}
