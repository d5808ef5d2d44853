use orm::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(abstract, ordering = ["-created"])]
pub struct Timestamped {
    #[orm(auto_now_add)]
    pub created: Option<orm::chrono::DateTime<orm::chrono::Utc>>,
}


#[derive(Model, Debug, Clone)]
#[orm(app = "shop", table = "shop_items", ordering = ["name"], indexes = [["name", "price"]],
      unique_together = [["name", "owner"]], check(name = "price_positive", sql = "price >= 0"))]
pub struct Item {
    pub id: Auto<i64>,
    #[orm(base)]
    pub stamps: Timestamped,
    #[orm(max_length = 50, index, help_text = "shown to users", verbose_name = "item name")]
    pub name: String,
    #[orm(default = 0, column = "price_cents")]
    pub price: i64,
    #[orm(on_delete = Protect, related_name = "items")]
    pub owner: ForeignKey<Owner>,
    #[orm(on_delete = SetNull)]
    pub backup_owner: Option<ForeignKey<Owner>>,
    pub tags: ManyToMany<Label>,
    #[orm(skip)]
    pub cache: Vec<String>,
}

#[derive(Model, Debug, Clone)]
#[orm(app = "shop")]
pub struct Owner {
    pub id: Auto<i64>,
    #[orm(max_length = 30, unique, choices = [("a", "A"), ("b", "B")])]
    pub kind: String,
    #[orm(on_delete = DoNothing)]
    pub boss: Option<ForeignKey<Owner>>,
}

#[derive(Model, Debug, Clone)]
#[orm(app = "shop")]
pub struct Label {
    pub id: Auto<i64>,
    pub name: String,
}

fn main() {
    assert_eq!(Item::meta().table, "shop_items");
    assert_eq!(Item::meta().fields.len(), 6);
    let _ = Item::name().icontains("x") & !Item::price().gt(3);
}
