//! The autodetector: diffs the state the migration history builds against the state of the
//! models, and plans the migrations that close the gap.
//!
//! Order within an app's migration (Django's): renamed models and fields first (settled by a
//! `renamed_from` hint, else by the [`Questioner`] when a removed and an added model or field
//! have the same definition), then removed indexes and constraints, removed fields, deleted
//! models, created models (each after the models it points at; a field pointing at a model not
//! created yet — a cycle — becomes a later `AddField`), table and option changes, added and
//! altered fields, then added indexes and constraints.
//!
//! Across apps, a migration depends on the latest migration of every app whose models its
//! operations point at. When two apps' new models point at each other, the pointing fields of
//! the app whose model is created first go into a second migration of that app, so the
//! dependencies never form a cycle.

use crate::error::{Key, Result};
use crate::operations::{
    AddConstraint, AddField, AddIndex, AlterField, AlterModelOptions, AlterModelTable, CreateModel, DeleteModel,
    Operation, RemoveConstraint, RemoveField, RemoveIndex, RenameField, RenameModel,
};
use crate::questioner::Questioner;
use crate::state::{ConstraintState, DefaultState, FieldState, ModelState, ProjectState};
use orm::meta::{DefaultMeta, ModelMeta};
use orm::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What the models say beyond their state: rename hints and callable defaults.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    /// New model label → old model name (`renamed_from` on the model).
    pub renamed_models: BTreeMap<String, String>,
    /// `(model label, new field)` → old field name (`renamed_from` on the field, a
    /// many-to-many one included).
    pub renamed_fields: BTreeMap<(String, String), String>,
    /// `(model label, field)` → the value of a callable default, evaluated once: used as the
    /// one-off default for existing rows.
    pub callable_defaults: BTreeMap<(String, String), Value>,
}

impl Hints {
    /// The hints of the given models.
    pub fn from_models(metas: &[&'static ModelMeta]) -> Self {
        let mut h = Hints::default();
        for m in metas {
            let label = m.label();
            if let Some(old) = m.renamed_from {
                h.renamed_models.insert(label.clone(), old.to_owned());
            }
            for f in m.fields {
                if let Some(old) = f.renamed_from {
                    h.renamed_fields.insert((label.clone(), f.name.to_owned()), old.to_owned());
                }
                if let Some(DefaultMeta::Callable(c)) = f.default {
                    h.callable_defaults.insert((label.clone(), f.name.to_owned()), c());
                } else if f.auto_now || f.auto_now_add {
                    // Django fills an auto_now(_add) column of existing rows with "now" and
                    // asks nothing: the moment makemigrations runs, fixed in the migration.
                    if let Some(now) = now_for(f.kind) {
                        h.callable_defaults.insert((label.clone(), f.name.to_owned()), now);
                    }
                }
            }
            for mm in m.many_to_many {
                if let Some(old) = mm.renamed_from {
                    h.renamed_fields.insert((label.clone(), mm.name.to_owned()), old.to_owned());
                }
            }
        }
        h
    }
}

/// "Now" as a value of a date or time column kind (`None` for other kinds).
fn now_for(kind: orm::ColumnKind) -> Option<Value> {
    let now = orm::chrono::Utc::now();
    match kind {
        orm::ColumnKind::Date => Some(Value::Date(now.date_naive())),
        orm::ColumnKind::Time => Some(Value::Time(now.time())),
        orm::ColumnKind::DateTime => Some(Value::DateTime(now.naive_utc())),
        orm::ColumnKind::DateTimeTz => Some(Value::DateTimeTz(now)),
        _ => None,
    }
}

/// A dependency of a planned migration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dependency {
    /// An existing migration.
    Existing(Key),
    /// The `index`-th planned migration of `app` in this run.
    Planned {
        /// The app.
        app: String,
        /// Which of its planned migrations (0 or 1).
        index: usize,
    },
}

/// A migration the autodetector plans (named and numbered by the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedMigration {
    /// The app.
    pub app: String,
    /// Is it the app's first migration?
    pub initial: bool,
    /// What it depends on.
    pub dependencies: Vec<Dependency>,
    /// Its operations, in order.
    pub operations: Vec<Operation>,
}

#[derive(Default)]
struct AppOps {
    renames: Vec<Operation>,
    removes: Vec<Operation>,
    deletes: Vec<Operation>,
    creates: Vec<Operation>,
    alters_model: Vec<Operation>,
    adds: Vec<Operation>,
    alters: Vec<Operation>,
    index_adds: Vec<Operation>,
    /// Operations that must wait for other apps' new models (a second migration).
    later: Vec<Operation>,
}

/// Plans the migrations that take `from` (the history's state) to `to` (the models').
/// `leaves` holds each app's latest existing migration.
pub fn detect_changes(
    from: &ProjectState,
    to: &ProjectState,
    hints: &Hints,
    q: &mut dyn Questioner,
    leaves: &BTreeMap<String, Key>,
) -> Result<Vec<PlannedMigration>> {
    let mut from = from.clone();
    let mut apps: BTreeMap<String, AppOps> = BTreeMap::new();

    // 1. Renamed models.
    let added: Vec<String> = to.models.keys().filter(|k| from.model(k).is_none()).cloned().collect();
    for new_label in &added {
        let new = to.get(new_label)?;
        let removed: Vec<String> = from.models.keys().filter(|k| to.model(k).is_none()).cloned().collect();
        let hinted = hints.renamed_models.get(new_label).map(|old| format!("{}.{old}", new.app));
        let mut chosen = None;
        if let Some(h) = hinted.filter(|h| removed.iter().any(|r| r.eq_ignore_ascii_case(h))) {
            chosen = removed.iter().find(|r| r.eq_ignore_ascii_case(&h)).cloned();
        } else {
            for old_label in removed.iter().filter(|r| r.starts_with(&format!("{}.", new.app))) {
                let old = from.get(old_label)?;
                if same_model_shape(old, new) && q.ask_rename_model(old_label, new_label)? {
                    chosen = Some(old_label.clone());
                    break;
                }
            }
        }
        if let Some(old_label) = chosen {
            let old_name = from.get(&old_label)?.name.clone();
            let op = Operation::RenameModel(RenameModel { old_name, new_name: new.name.clone() });
            op.state_forwards(&new.app, &mut from)?;
            apps.entry(new.app.clone()).or_default().renames.push(op);
        }
    }

    // 2. Renamed fields, in models on both sides.
    for (label, new) in &to.models {
        let Some(old) = from.model(label).cloned() else { continue };
        if !old.has_table() || !new.has_table() {
            continue;
        }
        for nf in new.fields.iter().filter(|f| old.get_field(&f.name).is_none()) {
            let removed: Vec<&FieldState> = old
                .fields
                .iter()
                .filter(|f| {
                    new.get_field(&f.name).is_none()
                        && from.get(label).ok().and_then(|m| m.get_field(&f.name)).is_some()
                })
                .collect();
            let hinted = hints.renamed_fields.get(&(label.clone(), nf.name.clone()));
            let mut chosen = None;
            if let Some(h) = hinted.filter(|h| removed.iter().any(|r| r.name == **h)) {
                chosen = Some(h.clone());
            } else {
                for of in &removed {
                    if same_field_shape(of, nf) && q.ask_rename_field(label, &of.name, &nf.name)? {
                        chosen = Some(of.name.clone());
                        break;
                    }
                }
            }
            if let Some(old_name) = chosen {
                let op = Operation::RenameField(RenameField {
                    model: new.name.clone(),
                    old_name,
                    new_name: nf.name.clone(),
                });
                op.state_forwards(&new.app, &mut from)?;
                apps.entry(new.app.clone()).or_default().renames.push(op);
            }
        }
    }

    // 3a. Retyped keys first (a primary key, or a field others point at by `to_field`): its
    // AlterField also retypes the relation columns that reference it, in every app, so those
    // need no AlterField of their own. The apps of those columns become dependencies.
    let mut key_deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (label, new) in &to.models {
        let Some(old) = from.model(label).cloned() else { continue };
        if old.kind != new.kind || !new.has_table() {
            continue;
        }
        for nf in &new.fields {
            let Some(of) = old.get_field(&nf.name) else { continue };
            if of.ty == nf.ty || of.is_many_to_many() || nf.is_many_to_many() {
                continue;
            }
            let referencing = from.referencing_fields(label, &nf.name)?;
            if !nf.primary_key && referencing.is_empty() {
                continue;
            }
            for (l, _) in &referencing {
                let other = l.split('.').next().unwrap_or_default();
                if other != new.app {
                    key_deps.entry(new.app.clone()).or_default().insert(other.to_owned());
                }
            }
            let op = Operation::AlterField(alter_field(label, &new.name, of, nf, hints, q)?);
            op.state_forwards(&new.app, &mut from)?;
            apps.entry(new.app.clone()).or_default().alters.push(op);
        }
    }

    // 3. Models on both sides: fields, indexes, constraints, table, options.
    for (label, new) in &to.models {
        let Some(old) = from.model(label).cloned() else { continue };
        let ops = apps.entry(new.app.clone()).or_default();
        if old.kind != new.kind {
            // A change of kind (concrete ↔ proxy): delete and create again.
            ops.deletes.push(Operation::DeleteModel(DeleteModel { name: old.name.clone() }));
            ops.creates.push(Operation::CreateModel(CreateModel::of(new)));
            continue;
        }
        if old.table != new.table {
            ops.alters_model
                .push(Operation::AlterModelTable(AlterModelTable { name: new.name.clone(), table: new.table.clone() }));
        }
        if old.options != new.options {
            ops.alters_model.push(Operation::AlterModelOptions(AlterModelOptions {
                name: new.name.clone(),
                options: new.options.clone(),
            }));
        }
        for i in old.indexes.iter().filter(|i| !new.indexes.contains(i)) {
            ops.removes.push(Operation::RemoveIndex(RemoveIndex { model: new.name.clone(), name: i.name.clone() }));
        }
        for c in old.constraints.iter().filter(|c| !new.constraints.contains(c)) {
            ops.removes.push(Operation::RemoveConstraint(RemoveConstraint {
                model: new.name.clone(),
                name: c.name().to_owned(),
            }));
        }
        for f in old.fields.iter().filter(|f| new.get_field(&f.name).is_none()) {
            ops.removes.push(Operation::RemoveField(RemoveField { model: new.name.clone(), name: f.name.clone() }));
        }
        for f in new.fields.iter().filter(|f| old.get_field(&f.name).is_none()) {
            let mut add = AddField { model: new.name.clone(), field: f.clone(), preserve_default: true };
            if !f.null && f.default.is_none() && !f.is_many_to_many() && !f.auto {
                let v = match hints.callable_defaults.get(&(label.clone(), f.name.clone())) {
                    Some(v) => v.clone(),
                    None => q.ask_default(label, f, true)?,
                };
                add.field.default = Some(DefaultState::from_value(&v, f.ty.column_type()));
                add.preserve_default = false;
            }
            ops.adds.push(Operation::AddField(add));
        }
        for nf in &new.fields {
            let Some(of) = old.get_field(&nf.name) else { continue };
            if of == nf {
                continue;
            }
            if of.is_many_to_many() != nf.is_many_to_many() {
                ops.removes
                    .push(Operation::RemoveField(RemoveField { model: new.name.clone(), name: nf.name.clone() }));
                ops.adds.push(Operation::AddField(AddField {
                    model: new.name.clone(),
                    field: nf.clone(),
                    preserve_default: true,
                }));
                continue;
            }
            ops.alters.push(Operation::AlterField(alter_field(label, &new.name, of, nf, hints, q)?));
        }
        for i in new.indexes.iter().filter(|i| !old.indexes.contains(i)) {
            ops.index_adds.push(Operation::AddIndex(AddIndex { model: new.name.clone(), index: i.clone() }));
        }
        for c in new.constraints.iter().filter(|c| !old.constraints.contains(c)) {
            ops.index_adds
                .push(Operation::AddConstraint(AddConstraint { model: new.name.clone(), constraint: c.clone() }));
        }
    }

    // 4. Deleted models, those pointing at others first. Models that point at each other
    // lose the fields that close the cycle first (RemoveField, before any DeleteModel), so no
    // table is dropped while another still references it (Django removes related fields of
    // deleted models first).
    let mut deleted: Vec<ModelState> =
        from.models.values().filter(|m| to.model(&m.label()).is_none()).cloned().collect();
    while !deleted.is_empty() {
        let free =
            deleted.iter().position(|m| !deleted.iter().any(|o| o.label() != m.label() && points_at(o, &m.label())));
        let pos = match free {
            Some(pos) => pos,
            None => {
                // A cycle: the first model drops its fields pointing at the others.
                let labels: Vec<String> = deleted.iter().map(ModelState::label).collect();
                let m = &mut deleted[0];
                let closing: Vec<String> = m
                    .fields
                    .iter()
                    .filter(|f| {
                        field_refs(f).iter().any(|t| {
                            labels.iter().any(|l| l.eq_ignore_ascii_case(t) && !l.eq_ignore_ascii_case(&m.label()))
                        })
                    })
                    .map(|f| f.name.clone())
                    .collect();
                for name in &closing {
                    apps.entry(m.app.clone())
                        .or_default()
                        .removes
                        .push(Operation::RemoveField(RemoveField { model: m.name.clone(), name: name.clone() }));
                }
                m.fields.retain(|f| !closing.contains(&f.name));
                continue;
            }
        };
        let m = deleted.remove(pos);
        apps.entry(m.app.clone())
            .or_default()
            .deletes
            .push(Operation::DeleteModel(DeleteModel { name: m.name.clone() }));
    }

    // 5. Created models, each after what it points at; fields pointing ahead are deferred.
    let mut pending: Vec<ModelState> =
        to.models.values().filter(|m| from.model(&m.label()).is_none()).cloned().collect();
    let mut available: BTreeSet<String> = from.models.keys().map(|k| k.to_ascii_lowercase()).collect();
    let mut created_in: BTreeMap<String, String> = BTreeMap::new(); // label (lower) → app
    let mut app_deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new(); // app → apps its first migration needs
    while !pending.is_empty() {
        let ready = |m: &ModelState, avail: &BTreeSet<String>| {
            hard_refs(m).iter().all(|l| avail.contains(&l.to_ascii_lowercase()))
        };
        let all_refs_ready = |m: &ModelState, avail: &BTreeSet<String>| {
            refs(m).iter().all(|l| avail.contains(&l.to_ascii_lowercase()) || l.eq_ignore_ascii_case(&m.label()))
        };
        let pos = pending
            .iter()
            .position(|m| all_refs_ready(m, &available))
            .or_else(|| pending.iter().position(|m| ready(m, &available)))
            .unwrap_or(0);
        let m = pending.remove(pos);
        let label = m.label();
        let mut create = CreateModel::of(&m);
        let mut deferred = Vec::new();
        create.fields.retain(|f| {
            let targets = field_refs(f);
            let ok = targets.iter().all(|t| {
                if t.eq_ignore_ascii_case(&label) {
                    return true;
                }
                let lower = t.to_ascii_lowercase();
                if !available.contains(&lower) {
                    return false;
                }
                // A model created in this run in another app: usable only without a cycle.
                match created_in.get(&lower) {
                    Some(app) if *app != m.app => !depends_on(&app_deps, app, &m.app),
                    _ => true,
                }
            });
            if !ok {
                deferred.push(f.clone());
            }
            ok
        });
        let deferred_names: BTreeSet<&str> = deferred.iter().map(|f| f.name.as_str()).collect();
        let mut late_extras = Vec::new();
        create.indexes.retain(|i| {
            let keep = !i.fields.iter().any(|f| deferred_names.contains(f.as_str()));
            if !keep {
                late_extras.push(Operation::AddIndex(AddIndex { model: m.name.clone(), index: i.clone() }));
            }
            keep
        });
        create.constraints.retain(|c| {
            let keep = !matches!(c, ConstraintState::Unique { fields, .. } if fields.iter().any(|f| deferred_names.contains(f.as_str())));
            if !keep {
                late_extras.push(Operation::AddConstraint(AddConstraint { model: m.name.clone(), constraint: c.clone() }));
            }
            keep
        });
        let create_op = Operation::CreateModel(create);
        for l in create_op.foreign_labels(&m.app) {
            if let Some(app) = created_in.get(&l.to_ascii_lowercase()) {
                app_deps.entry(m.app.clone()).or_default().insert(app.clone());
            }
        }
        available.insert(label.to_ascii_lowercase());
        created_in.insert(label.to_ascii_lowercase(), m.app.clone());
        let ops = apps.entry(m.app.clone()).or_default();
        ops.creates.push(create_op);
        for f in deferred {
            let op = Operation::AddField(AddField { model: m.name.clone(), field: f, preserve_default: true });
            // Later in this app's first migration when its targets are this app's; in a
            // second migration when they are another app's new models.
            let cross = field_refs_of(&op).iter().any(|t| t.split('.').next() != Some(m.app.as_str()));
            if cross {
                ops.later.push(op);
            } else {
                ops.adds.push(op);
            }
        }
        if ops.later.iter().any(|o| matches!(o, Operation::AddField(a) if a.model == m.name)) {
            ops.later.extend(late_extras);
        } else {
            ops.index_adds.extend(late_extras);
        }
    }

    // 6. Assemble per app, with dependencies.
    let created_lower: BTreeMap<String, String> = created_in;
    let mut out = Vec::new();
    for (app, ops) in apps {
        let main: Vec<Operation> = [
            ops.renames,
            ops.removes,
            ops.deletes,
            ops.creates,
            ops.alters_model,
            ops.adds,
            ops.alters,
            ops.index_adds,
        ]
        .into_iter()
        .flatten()
        .collect();
        let main = crate::optimizer::optimize(main, &app);
        let later = ops.later;
        if main.is_empty() && later.is_empty() {
            continue;
        }
        let deps_of = |ops: &[Operation]| -> Vec<Dependency> {
            let mut d = BTreeSet::new();
            if let Some(leaf) = leaves.get(&app) {
                d.insert(Dependency::Existing(leaf.clone()));
            }
            for other in key_deps.get(&app).into_iter().flatten() {
                if let Some(leaf) = leaves.get(other) {
                    d.insert(Dependency::Existing(leaf.clone()));
                }
            }
            for op in ops {
                for l in op.foreign_labels(&app) {
                    let other = l.split('.').next().unwrap_or_default().to_owned();
                    if created_lower.contains_key(&l.to_ascii_lowercase()) {
                        d.insert(Dependency::Planned { app: other, index: 0 });
                    } else if let Some(leaf) = leaves.get(&other) {
                        d.insert(Dependency::Existing(leaf.clone()));
                    }
                }
            }
            d.into_iter().collect()
        };
        let initial = !leaves.contains_key(&app);
        if !main.is_empty() {
            out.push(PlannedMigration { app: app.clone(), initial, dependencies: deps_of(&main), operations: main });
        }
        if !later.is_empty() {
            let mut deps = deps_of(&later);
            if out.last().is_some_and(|m| m.app == app) {
                deps.retain(|d| !matches!(d, Dependency::Existing(k) if k.app == app));
                deps.insert(0, Dependency::Planned { app: app.clone(), index: 0 });
            }
            // Both halves of a new app's split are initial, as Django marks every migration
            // of an app that had none.
            out.push(PlannedMigration { app: app.clone(), initial, dependencies: deps, operations: later });
        }
    }
    Ok(out)
}

/// The AlterField taking field `of` of model `label` (named `model`) to `nf`; a field that
/// becomes `NOT NULL` without a default gets a one-off default for its `NULL`s (a callable
/// default's value, else the questioner's answer).
fn alter_field(
    label: &str,
    model: &str,
    of: &FieldState,
    nf: &FieldState,
    hints: &Hints,
    q: &mut dyn Questioner,
) -> Result<AlterField> {
    let mut alter = AlterField { model: model.to_owned(), field: nf.clone(), preserve_default: true };
    if of.null && !nf.null && nf.default.is_none() {
        let v = match hints.callable_defaults.get(&(label.to_owned(), nf.name.clone())) {
            Some(v) => Some(v.clone()),
            None => q.ask_not_null_alteration(label, nf)?,
        };
        // Without a one-off value the AlterField is planned as it is (Django's "ignore for
        // now"): applying it fails only if NULLs exist then.
        if let Some(v) = v {
            alter.field.default = Some(DefaultState::from_value(&v, nf.ty.column_type()));
            alter.preserve_default = false;
        }
    }
    Ok(alter)
}

/// Does app `a`'s first migration need `b`'s (directly or through others)?
fn depends_on(deps: &BTreeMap<String, BTreeSet<String>>, a: &str, b: &str) -> bool {
    let mut stack = vec![a.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(x) = stack.pop() {
        if x == b {
            return true;
        }
        if seen.insert(x.clone()) {
            stack.extend(deps.get(&x).into_iter().flatten().cloned());
        }
    }
    false
}

/// Models a field points at.
fn field_refs(f: &FieldState) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(r) = &f.relation {
        v.push(r.to.clone());
    }
    if let Some(m) = &f.many_to_many {
        v.push(m.to.clone());
        v.extend(m.through.clone());
    }
    v
}

fn field_refs_of(op: &Operation) -> Vec<String> {
    match op {
        Operation::AddField(a) => field_refs(&a.field),
        _ => Vec::new(),
    }
}

/// Models `m` must come after whatever (its parent or proxied model).
fn hard_refs(m: &ModelState) -> Vec<String> {
    match &m.kind {
        crate::state::ModelKindState::Proxy { of } => vec![of.clone()],
        crate::state::ModelKindState::MultiTable { parent } => vec![parent.clone()],
        crate::state::ModelKindState::Concrete => Vec::new(),
    }
}

/// Every model `m` points at.
fn refs(m: &ModelState) -> Vec<String> {
    let mut v = hard_refs(m);
    for f in &m.fields {
        v.extend(field_refs(f));
    }
    v
}

fn points_at(m: &ModelState, label: &str) -> bool {
    refs(m).iter().any(|l| l.eq_ignore_ascii_case(label))
}

/// Same definition apart from the name (and a column derived from it).
fn same_field_shape(a: &FieldState, b: &FieldState) -> bool {
    let strip = |f: &FieldState| {
        let mut f = f.clone();
        f.name.clear();
        f.column.clear();
        if let Some(m) = &mut f.many_to_many {
            m.join_table.clear();
        }
        f
    };
    strip(a) == strip(b)
}

/// Same fields (by definition, ignoring the model's and table's names).
fn same_model_shape(a: &ModelState, b: &ModelState) -> bool {
    a.kind == b.kind && a.fields.len() == b.fields.len() && a.fields.iter().zip(&b.fields).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questioner::{NonInteractive, Scripted};
    use crate::state::{ModelKindState, OnDeleteState};
    use orm_backends::schema::ColumnType;

    fn author() -> ModelState {
        ModelState::new("blog", "Author", "blog_author")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::new("name", ColumnType::Varchar(50)))
    }

    fn post() -> ModelState {
        ModelState::new("blog", "Post", "blog_post")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::new("title", ColumnType::Varchar(200)))
            .field(FieldState::foreign_key("author", "blog.Author", OnDeleteState::Cascade))
    }

    fn state(models: &[ModelState]) -> ProjectState {
        let mut s = ProjectState::new();
        for m in models {
            s.add_model(m.clone());
        }
        s
    }

    fn detect(from: &ProjectState, to: &ProjectState, hints: &Hints) -> Result<Vec<PlannedMigration>> {
        let leaves: BTreeMap<String, Key> =
            from.apps().into_iter().map(|a| (a.clone(), Key::new(a, "0001_initial"))).collect();
        detect_changes(from, to, hints, &mut NonInteractive, &leaves)
    }

    fn names(p: &PlannedMigration) -> Vec<String> {
        p.operations.iter().map(Operation::describe).collect()
    }

    #[test]
    fn new_models_are_created_targets_first() {
        let out = detect(&ProjectState::new(), &state(&[post(), author()]), &Hints::default()).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].initial);
        assert_eq!(names(&out[0]), ["Create model Author", "Create model Post"]);
        assert!(out[0].dependencies.is_empty());
    }

    #[test]
    fn a_cycle_becomes_a_later_add_field() {
        let a = author().field(FieldState::foreign_key("favourite", "blog.Post", OnDeleteState::SetNull).nullable());
        let out = detect(&ProjectState::new(), &state(&[a, post()]), &Hints::default()).unwrap();
        assert_eq!(names(&out[0]), ["Create model Author", "Create model Post", "Add field favourite to Author"]);
    }

    #[test]
    fn field_changes_are_detected() {
        let mut p2 = post();
        p2.fields[1] = FieldState::new("title", ColumnType::Varchar(300));
        p2.fields.push(FieldState::new("views", ColumnType::BigInt).default_value(0i64));
        p2.fields.retain(|f| f.name != "author");
        let out = detect(&state(&[author(), post()]), &state(&[author(), p2]), &Hints::default()).unwrap();
        assert_eq!(
            names(&out[0]),
            ["Remove field author from Post", "Add field views to Post", "Alter field title on Post"]
        );
        assert_eq!(out[0].dependencies, [Dependency::Existing(Key::new("blog", "0001_initial"))]);
    }

    #[test]
    fn renames_need_a_hint_or_an_answer() {
        let mut p2 = post();
        p2.fields[1] = FieldState::new("headline", ColumnType::Varchar(200));
        let (from, to) = (state(&[author(), post()]), state(&[author(), p2]));
        let e = detect(&from, &to, &Hints::default()).unwrap_err().to_string();
        assert!(e.contains("renamed_from = \"title\"") && e.contains("headline"), "{e}");
        let mut hints = Hints::default();
        hints.renamed_fields.insert(("blog.Post".into(), "headline".into()), "title".into());
        let out = detect(&from, &to, &hints).unwrap();
        assert_eq!(names(&out[0]), ["Rename field title on Post to headline"]);
        let mut q =
            Scripted { renames: vec![("blog.Post.title".into(), "blog.Post.headline".into())], ..Default::default() };
        let leaves = BTreeMap::from([("blog".to_owned(), Key::new("blog", "0001_initial"))]);
        let out = detect_changes(&from, &to, &Hints::default(), &mut q, &leaves).unwrap();
        assert_eq!(names(&out[0]), ["Rename field title on Post to headline"]);
    }

    #[test]
    fn renamed_models_keep_their_table_until_told() {
        let mut w = author();
        w.name = "Writer".into();
        w.table = "blog_writer".into();
        let mut p = post();
        p.fields[2].relation.as_mut().unwrap().to = "blog.Writer".into();
        let mut hints = Hints::default();
        hints.renamed_models.insert("blog.Writer".into(), "Author".into());
        let out = detect(&state(&[author(), post()]), &state(&[w, p]), &hints).unwrap();
        assert_eq!(names(&out[0]), ["Rename model Author to Writer", "Rename table of Writer to blog_writer"]);
    }

    #[test]
    fn a_new_not_null_field_asks_for_a_default() {
        let p2 = post().field(FieldState::new("slug", ColumnType::Varchar(20)));
        let (from, to) = (state(&[author(), post()]), state(&[author(), p2]));
        let e = detect(&from, &to, &Hints::default()).unwrap_err().to_string();
        assert!(e.contains("blog.Post.slug") && e.contains("default"), "{e}");
        let mut q = Scripted::default();
        q.defaults.insert("blog.Post.slug".into(), Value::from("x"));
        let leaves = BTreeMap::from([("blog".to_owned(), Key::new("blog", "0001_initial"))]);
        let out = detect_changes(&from, &to, &Hints::default(), &mut q, &leaves).unwrap();
        match &out[0].operations[0] {
            Operation::AddField(a) => {
                assert!(!a.preserve_default);
                assert_eq!(a.field.default, Some(DefaultState::Value(serde_json::json!("x"))));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn proxies_and_children_follow_their_parents_across_apps() {
        let place = ModelState::new("places", "Place", "places_place").field(FieldState::auto_pk("id"));
        let mut proxy = ModelState::new("places", "ByName", "places_place");
        proxy.kind = ModelKindState::Proxy { of: "places.Place".into() };
        let mut child = ModelState::new("food", "Restaurant", "food_restaurant");
        child.kind = ModelKindState::MultiTable { parent: "places.Place".into() };
        let mut ptr = FieldState::foreign_key("place_ptr", "places.Place", OnDeleteState::Cascade);
        ptr.primary_key = true;
        let rel = ptr.relation.as_mut().unwrap();
        rel.one_to_one = true;
        rel.parent_link = true;
        child.fields.push(ptr);
        let out = detect(&ProjectState::new(), &state(&[child, proxy, place]), &Hints::default()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].app, "food");
        assert_eq!(out[0].dependencies, [Dependency::Planned { app: "places".into(), index: 0 }]);
        assert_eq!(names(&out[1]), ["Create model Place", "Create proxy model ByName (of places.Place)"]);
    }

    #[test]
    fn two_apps_pointing_at_each_other_get_a_second_migration() {
        let a = ModelState::new("a", "A", "a_a").field(FieldState::auto_pk("id")).field(FieldState::foreign_key(
            "b",
            "b.B",
            OnDeleteState::Cascade,
        ));
        let b = ModelState::new("b", "B", "b_b").field(FieldState::auto_pk("id")).field(FieldState::foreign_key(
            "a",
            "a.A",
            OnDeleteState::Cascade,
        ));
        let out = detect(&ProjectState::new(), &state(&[a, b]), &Hints::default()).unwrap();
        let summary: Vec<(String, Vec<Dependency>, Vec<String>)> =
            out.iter().map(|p| (p.app.clone(), p.dependencies.clone(), names(p))).collect();
        assert_eq!(summary.len(), 3, "{summary:?}");
        assert_eq!(summary[0].2, ["Create model A"]);
        assert_eq!(summary[1].2, ["Add field b to A"]);
        assert_eq!(
            summary[1].1,
            [Dependency::Planned { app: "a".into(), index: 0 }, Dependency::Planned { app: "b".into(), index: 0 }]
        );
        assert_eq!(summary[2].1, [Dependency::Planned { app: "a".into(), index: 0 }]);
        assert!(out.iter().all(|p| p.initial), "every migration of a new app is initial, as in Django");
    }

    #[test]
    fn deleting_models_that_point_at_each_other_drops_the_closing_key_first() {
        let a = ModelState::new("blog", "A", "blog_a").field(FieldState::auto_pk("id")).field(FieldState::foreign_key(
            "b",
            "blog.B",
            OnDeleteState::Cascade,
        ));
        let b = ModelState::new("blog", "B", "blog_b").field(FieldState::auto_pk("id")).field(FieldState::foreign_key(
            "a",
            "blog.A",
            OnDeleteState::Cascade,
        ));
        let out = detect(&state(&[a, b, author()]), &state(&[author()]), &Hints::default()).unwrap();
        assert_eq!(names(&out[0]), ["Remove field b from A", "Delete model B", "Delete model A"]);
    }

    #[test]
    fn a_field_becoming_not_null_without_an_answer_is_planned_as_it_is() {
        let mut p2 = post();
        p2.fields.push(FieldState::new("body", ColumnType::Text).nullable());
        let mut p3 = p2.clone();
        p3.get_field_mut("body").unwrap().null = false;
        let out = detect(&state(&[author(), p2]), &state(&[author(), p3]), &Hints::default()).unwrap();
        let Operation::AlterField(alter) = &out[0].operations[0] else { panic!("{:?}", out[0].operations) };
        assert!(!alter.field.null && alter.field.default.is_none() && alter.preserve_default);
    }

    #[test]
    fn an_auto_now_field_is_added_without_a_question() {
        // Hints::from_models puts "now" among the one-off values of auto_now(_add) fields;
        // with it, a NOT NULL timestamp is added with no questioner consulted.
        let mut p2 = post();
        p2.fields.push(FieldState::new("created", ColumnType::DateTimeTz));
        let mut hints = Hints::default();
        hints
            .callable_defaults
            .insert(("blog.Post".into(), "created".into()), now_for(orm::ColumnKind::DateTimeTz).unwrap());
        let out = detect(&state(&[author(), post()]), &state(&[author(), p2]), &hints).unwrap();
        let Operation::AddField(add) = &out[0].operations[0] else { panic!("{:?}", out[0].operations) };
        assert!(add.field.default.is_some() && !add.preserve_default);
        assert!(now_for(orm::ColumnKind::Date).is_some() && now_for(orm::ColumnKind::Integer).is_none());
    }

    #[test]
    fn indexes_constraints_and_options() {
        let mut p2 = post();
        p2.indexes.push(crate::state::IndexState { name: "blog_post_title_idx".into(), fields: vec!["title".into()] });
        p2.constraints
            .push(ConstraintState::Check { name: "blog_post_title_nonempty".into(), sql: "title <> ''".into() });
        p2.options.ordering = vec!["-id".into()];
        let out = detect(&state(&[author(), post()]), &state(&[author(), p2.clone()]), &Hints::default()).unwrap();
        assert_eq!(
            names(&out[0]),
            [
                "Change options of Post",
                "Create index blog_post_title_idx on title of Post",
                "Create constraint blog_post_title_nonempty on model Post"
            ]
        );
        let back = detect(&state(&[author(), p2]), &state(&[author(), post()]), &Hints::default()).unwrap();
        assert_eq!(
            names(&back[0]),
            [
                "Remove index blog_post_title_idx from Post",
                "Remove constraint blog_post_title_nonempty from model Post",
                "Change options of Post"
            ]
        );
    }

    #[test]
    fn a_retyped_primary_key_is_one_alter_field_that_carries_its_references() {
        let int_pk = |s: FieldState| FieldState { ty: crate::state::TypeState::Column(ColumnType::Integer), ..s };
        let mut a1 = author();
        a1.fields[0] = int_pk(FieldState::auto_pk("id"));
        let mut p1 = post();
        p1.fields[2] = int_pk(p1.fields[2].clone());
        let c1 = ModelState::new("shop", "Order", "shop_order")
            .field(FieldState::auto_pk("id"))
            .field(int_pk(FieldState::foreign_key("buyer", "blog.Author", OnDeleteState::Cascade)));
        // The models: the key is a bigint now, and so is every relation column pointing at it.
        let c2 = ModelState::new("shop", "Order", "shop_order")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::foreign_key("buyer", "blog.Author", OnDeleteState::Cascade));
        let from = state(&[a1, p1, c1]);
        let out = detect(&from, &state(&[author(), post(), c2]), &Hints::default()).unwrap();
        assert_eq!(out.len(), 1, "no migration for the shop app: {out:?}");
        assert_eq!(names(&out[0]), ["Alter field id on Author"]);
        assert!(
            out[0].dependencies.contains(&Dependency::Existing(Key::new("shop", "0001_initial"))),
            "it alters shop's table: {:?}",
            out[0].dependencies
        );
        let mut after = from.clone();
        out[0].operations[0].state_forwards("blog", &mut after).unwrap();
        assert_eq!(
            after,
            state(&[
                author(),
                post(),
                ModelState::new("shop", "Order", "shop_order")
                    .field(FieldState::auto_pk("id"))
                    .field(FieldState::foreign_key("buyer", "blog.Author", OnDeleteState::Cascade))
            ])
        );
    }

    #[test]
    fn no_changes_plan_nothing() {
        let s = state(&[author(), post()]);
        assert!(detect(&s, &s, &Hints::default()).unwrap().is_empty());
    }
}
