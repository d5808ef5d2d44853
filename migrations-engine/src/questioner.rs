//! [`Questioner`]: what the autodetector asks when the models alone do not say (was this a
//! rename? what goes into existing rows?), answered on a terminal, from a script, or refused.

use crate::error::{MigrationError, Result};
use crate::state::{json_to_value, FieldState};
use orm::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Answers the autodetector's questions.
pub trait Questioner {
    /// Was model `old` (`app.Model`) renamed to `new`?
    fn ask_rename_model(&mut self, old: &str, new: &str) -> Result<bool>;

    /// Was field `old` of model `model` renamed to `new`?
    fn ask_rename_field(&mut self, model: &str, old: &str, new: &str) -> Result<bool>;

    /// The one-off value for existing rows of `model`: a new `NOT NULL` field without a
    /// default (`adding`), or a field that becomes `NOT NULL` (its `NULL`s).
    fn ask_default(&mut self, model: &str, field: &FieldState, adding: bool) -> Result<Value>;

    /// Field `field` of `model` becomes `NOT NULL` with no default: the one-off value for
    /// the rows that hold NULL, or `None` to plan the AlterField as it is (Django's "ignore
    /// for now": applying it fails only if NULLs exist then). Asks
    /// [`ask_default`](Questioner::ask_default) unless overridden.
    fn ask_not_null_alteration(&mut self, model: &str, field: &FieldState) -> Result<Option<Value>> {
        self.ask_default(model, field, false).map(Some)
    }
}

/// Answers nothing: every question is an error that says how to settle it (a
/// `renamed_from` hint or a default). Used when no terminal is attached.
#[derive(Clone, Copy, Debug, Default)]
pub struct NonInteractive;

impl Questioner for NonInteractive {
    /// Plans the AlterField without a value, as Django's non-interactive questioner does.
    fn ask_not_null_alteration(&mut self, _model: &str, _field: &FieldState) -> Result<Option<Value>> {
        Ok(None)
    }

    fn ask_rename_model(&mut self, old: &str, new: &str) -> Result<bool> {
        Err(MigrationError::Question(format!(
            "model {new} looks like a rename of {old} (same fields), and there is no terminal to ask: add \
             `#[orm(renamed_from = \"{}\")]` to {new} if it is, or remove or change {old} in the same run otherwise",
            old.rsplit('.').next().unwrap_or(old)
        )))
    }

    fn ask_rename_field(&mut self, model: &str, old: &str, new: &str) -> Result<bool> {
        Err(MigrationError::Question(format!(
            "field {model}.{new} looks like a rename of {model}.{old} (same definition), and there is no terminal \
             to ask: add `#[orm(renamed_from = \"{old}\")]` to `{new}` if it is; makemigrations will not drop \
             column `{old}` on a guess"
        )))
    }

    fn ask_default(&mut self, model: &str, field: &FieldState, adding: bool) -> Result<Value> {
        let what = if adding {
            format!("cannot add the NOT NULL field {model}.{} without a default", field.name)
        } else {
            format!("cannot make {model}.{} NOT NULL without a value for the rows that hold NULL", field.name)
        };
        Err(MigrationError::Question(format!(
            "{what}: existing rows need a value. Give the field a default (`#[orm(default = …)]`), make it an \
             `Option`, or run makemigrations on a terminal to provide a one-off default"
        )))
    }
}

/// Answers from a script: renames by `(old, new)` pairs, defaults by `model.field`.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    /// `(old, new)` model labels or `model.old`/`model.new` field paths answered yes.
    pub renames: Vec<(String, String)>,
    /// One-off defaults by `app.Model.field`.
    pub defaults: BTreeMap<String, Value>,
}

impl Questioner for Scripted {
    /// The scripted one-off value, or none (the AlterField planned as it is).
    fn ask_not_null_alteration(&mut self, model: &str, field: &FieldState) -> Result<Option<Value>> {
        Ok(self.defaults.get(&format!("{model}.{}", field.name)).cloned())
    }

    fn ask_rename_model(&mut self, old: &str, new: &str) -> Result<bool> {
        Ok(self.renames.iter().any(|(o, n)| o == old && n == new))
    }

    fn ask_rename_field(&mut self, model: &str, old: &str, new: &str) -> Result<bool> {
        Ok(self.renames.iter().any(|(o, n)| *o == format!("{model}.{old}") && *n == format!("{model}.{new}")))
    }

    fn ask_default(&mut self, model: &str, field: &FieldState, adding: bool) -> Result<Value> {
        match self.defaults.get(&format!("{model}.{}", field.name)) {
            Some(v) => Ok(v.clone()),
            None => NonInteractive.ask_default(model, field, adding),
        }
    }
}

/// Asks on the terminal (stderr for questions, stdin for answers).
#[derive(Debug, Default)]
pub struct Interactive;

impl Interactive {
    fn line(prompt: &str) -> Result<String> {
        let mut err = std::io::stderr();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .map_err(|e| MigrationError::Question(format!("cannot read an answer: {e}")))?;
        Ok(s.trim().to_owned())
    }

    fn yes(prompt: &str) -> Result<bool> {
        let a = Self::line(&format!("{prompt} [y/N] "))?;
        Ok(matches!(a.to_ascii_lowercase().as_str(), "y" | "yes"))
    }
}

impl Questioner for Interactive {
    fn ask_rename_model(&mut self, old: &str, new: &str) -> Result<bool> {
        Self::yes(&format!("Was the model {old} renamed to {new}?"))
    }

    fn ask_rename_field(&mut self, model: &str, old: &str, new: &str) -> Result<bool> {
        Self::yes(&format!("Was {model}.{old} renamed to {model}.{new}?"))
    }

    fn ask_default(&mut self, model: &str, field: &FieldState, adding: bool) -> Result<Value> {
        let why = if adding { "It is a new NOT NULL field without a default" } else { "It becomes NOT NULL" };
        eprintln!("{why}: {model}.{} needs a one-off value for existing rows.", field.name);
        loop {
            let a = Self::line("Enter a value as JSON (e.g. 0, \"draft\", true), or an empty line to stop: ")?;
            if a.is_empty() {
                return NonInteractive.ask_default(model, field, adding);
            }
            let j = serde_json::from_str(&a).unwrap_or(serde_json::Value::String(a.clone()));
            match json_to_value(&j, field.ty.column_type()) {
                Some(v) => return Ok(v),
                None => eprintln!("NULL is not a value for a NOT NULL field."),
            }
        }
    }
}

/// The questioner to use: interactive when stdin and stderr are terminals, else refusing.
pub fn default_questioner() -> Box<dyn Questioner> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Box::new(Interactive)
    } else {
        Box::new(NonInteractive)
    }
}
