//! [`MigrationGraph`]: migrations as nodes, dependencies as edges; plans forwards and
//! backwards, leaves and roots per app, cycle detection.

use crate::error::{Key, MigrationError, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The dependency graph of a set of migrations.
#[derive(Clone, Debug, Default)]
pub struct MigrationGraph {
    nodes: BTreeSet<Key>,
    parents: BTreeMap<Key, BTreeSet<Key>>,
    children: BTreeMap<Key, BTreeSet<Key>>,
}

impl MigrationGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a migration.
    pub fn add_node(&mut self, key: Key) {
        self.parents.entry(key.clone()).or_default();
        self.children.entry(key.clone()).or_default();
        self.nodes.insert(key);
    }

    /// Records that `child` depends on `parent`; both must be nodes already.
    pub fn add_dependency(&mut self, child: &Key, parent: &Key) -> Result<()> {
        if !self.nodes.contains(child) {
            return Err(MigrationError::NodeNotFound { node: child.clone(), origin: "a dependency".into() });
        }
        if !self.nodes.contains(parent) {
            return Err(MigrationError::NodeNotFound {
                node: parent.clone(),
                origin: format!("dependencies of {child}"),
            });
        }
        self.parents.entry(child.clone()).or_default().insert(parent.clone());
        self.children.entry(parent.clone()).or_default().insert(child.clone());
        Ok(())
    }

    /// Removes a node and its edges.
    pub fn remove_node(&mut self, key: &Key) {
        self.nodes.remove(key);
        for p in self.parents.remove(key).unwrap_or_default() {
            if let Some(c) = self.children.get_mut(&p) {
                c.remove(key);
            }
        }
        for c in self.children.remove(key).unwrap_or_default() {
            if let Some(p) = self.parents.get_mut(&c) {
                p.remove(key);
            }
        }
    }

    /// Is `key` a node?
    pub fn contains(&self, key: &Key) -> bool {
        self.nodes.contains(key)
    }

    /// Every node, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &Key> {
        self.nodes.iter()
    }

    /// The direct dependencies of `key`.
    pub fn parents(&self, key: &Key) -> impl Iterator<Item = &Key> {
        self.parents.get(key).into_iter().flatten()
    }

    /// The direct dependents of `key`.
    pub fn children(&self, key: &Key) -> impl Iterator<Item = &Key> {
        self.children.get(key).into_iter().flatten()
    }

    /// The migrations of `app` that no other migration of `app` depends on.
    pub fn leaf_nodes(&self, app: &str) -> Vec<Key> {
        self.nodes.iter().filter(|k| k.app == app && !self.children(k).any(|c| c.app == app)).cloned().collect()
    }

    /// The migrations of `app` that depend on no other migration of `app`.
    pub fn root_nodes(&self, app: &str) -> Vec<Key> {
        self.nodes.iter().filter(|k| k.app == app && !self.parents(k).any(|p| p.app == app)).cloned().collect()
    }

    /// The apps with migrations.
    pub fn apps(&self) -> BTreeSet<String> {
        self.nodes.iter().map(|k| k.app.clone()).collect()
    }

    /// Apps with more than one leaf, with their leaves.
    pub fn conflicts(&self) -> BTreeMap<String, Vec<Key>> {
        self.apps()
            .into_iter()
            .filter_map(|a| {
                let leaves = self.leaf_nodes(&a);
                (leaves.len() > 1).then_some((a, leaves))
            })
            .collect()
    }

    /// Fails with [`MigrationError::CircularDependency`] naming a cycle, if there is one.
    pub fn ensure_acyclic(&self) -> Result<()> {
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut mark: BTreeMap<&Key, u8> = BTreeMap::new();
        for start in &self.nodes {
            if mark.get(start).copied().unwrap_or(0) != 0 {
                continue;
            }
            let mut stack: Vec<(&Key, Vec<&Key>)> = vec![(start, self.parents(start).collect())];
            mark.insert(start, 1);
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(p) => match mark.get(p).copied().unwrap_or(0) {
                        0 => {
                            mark.insert(p, 1);
                            stack.push((p, self.parents(p).collect()));
                        }
                        1 => {
                            let at = stack.iter().position(|(k, _)| *k == p).unwrap_or(0);
                            let mut cycle: Vec<Key> = stack[at..].iter().map(|(k, _)| (*k).clone()).collect();
                            cycle.push(p.clone());
                            return Err(MigrationError::CircularDependency(cycle));
                        }
                        _ => {}
                    },
                    None => {
                        mark.insert(node, 2);
                        stack.pop();
                    }
                }
            }
        }
        Ok(())
    }

    /// Every migration `target` needs, dependencies first, ending with `target`.
    pub fn forwards_plan(&self, target: &Key) -> Result<Vec<Key>> {
        self.walk(target, |k| self.parents(k).collect())
    }

    /// Every migration that depends on `target`, dependents first, ending with `target`.
    pub fn backwards_plan(&self, target: &Key) -> Result<Vec<Key>> {
        self.walk(target, |k| self.children(k).collect())
    }

    fn walk<'a>(&'a self, target: &Key, next: impl Fn(&Key) -> Vec<&'a Key>) -> Result<Vec<Key>> {
        if !self.nodes.contains(target) {
            return Err(MigrationError::NodeNotFound { node: target.clone(), origin: "the plan".into() });
        }
        self.ensure_acyclic()?;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(Key, bool)> = vec![(target.clone(), false)];
        while let Some((k, expanded)) = stack.pop() {
            if expanded {
                if seen.insert(k.clone()) {
                    out.push(k);
                }
                continue;
            }
            if seen.contains(&k) {
                continue;
            }
            stack.push((k.clone(), true));
            let mut n = next(&k);
            n.sort();
            for p in n.into_iter().rev() {
                if !seen.contains(p) {
                    stack.push((p.clone(), false));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        s.parse().unwrap()
    }

    fn graph(edges: &[(&str, &str)]) -> MigrationGraph {
        let mut g = MigrationGraph::new();
        for (a, b) in edges {
            g.add_node(k(a));
            g.add_node(k(b));
        }
        for (a, b) in edges {
            g.add_dependency(&k(a), &k(b)).unwrap();
        }
        g
    }

    #[test]
    fn plans_follow_dependencies_across_apps() {
        let g = graph(&[
            ("blog.0002_b", "blog.0001_a"),
            ("blog.0002_b", "auth.0001_a"),
            ("blog.0003_c", "blog.0002_b"),
            ("auth.0002_b", "auth.0001_a"),
        ]);
        let plan: Vec<String> = g.forwards_plan(&k("blog.0003_c")).unwrap().iter().map(|k| k.to_string()).collect();
        assert_eq!(plan, ["auth.0001_a", "blog.0001_a", "blog.0002_b", "blog.0003_c"]);
        let back: Vec<String> = g.backwards_plan(&k("auth.0001_a")).unwrap().iter().map(|k| k.to_string()).collect();
        assert_eq!(back.last().unwrap(), "auth.0001_a");
        let pos = |s: &str| back.iter().position(|x| x == s).unwrap();
        assert!(pos("blog.0003_c") < pos("blog.0002_b"));
        assert_eq!(g.leaf_nodes("blog"), [k("blog.0003_c")]);
        assert_eq!(g.root_nodes("auth"), [k("auth.0001_a")]);
        assert!(g.conflicts().is_empty());
    }

    #[test]
    fn two_leaves_are_a_conflict() {
        let g = graph(&[("blog.0002_x", "blog.0001_a"), ("blog.0002_y", "blog.0001_a")]);
        assert_eq!(g.conflicts()["blog"], [k("blog.0002_x"), k("blog.0002_y")]);
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let g = graph(&[("a.1", "b.1"), ("b.1", "c.1"), ("c.1", "a.1")]);
        match g.ensure_acyclic() {
            Err(MigrationError::CircularDependency(path)) => {
                assert_eq!(path.len(), 4, "{path:?}");
                assert_eq!(path.first(), path.last());
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
        assert!(g.forwards_plan(&k("a.1")).is_err());
    }

    #[test]
    fn unknown_dependencies_name_who_asked() {
        let mut g = MigrationGraph::new();
        g.add_node(k("blog.0001_a"));
        let e = g.add_dependency(&k("blog.0001_a"), &k("auth.0001_a")).unwrap_err();
        assert_eq!(e.to_string(), "migration auth.0001_a is not known (named by dependencies of blog.0001_a)");
    }
}
