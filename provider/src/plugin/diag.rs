//! Diagnostics (errors and warnings, each at an attribute path) as Terraform shows them.

use super::proto;

/// A step into a value: an attribute, a list index or a map key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Attribute(String),
    Index(i64),
    Key(String),
}

/// Where in a configuration a diagnostic points; empty for the whole resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributePath(pub Vec<Step>);

impl AttributePath {
    pub fn root() -> Self {
        AttributePath(Vec::new())
    }
    pub fn new(name: impl Into<String>) -> Self {
        AttributePath(vec![Step::Attribute(name.into())])
    }
    pub fn attribute(mut self, name: impl Into<String>) -> Self {
        self.0.push(Step::Attribute(name.into()));
        self
    }
    pub fn index(mut self, i: i64) -> Self {
        self.0.push(Step::Index(i));
        self
    }
    pub fn key(mut self, k: impl Into<String>) -> Self {
        self.0.push(Step::Key(k.into()));
        self
    }

    pub(crate) fn to_proto(&self) -> proto::AttributePath {
        use proto::attribute_path::step::Selector;
        proto::AttributePath {
            steps: self
                .0
                .iter()
                .map(|s| proto::attribute_path::Step {
                    selector: Some(match s {
                        Step::Attribute(a) => Selector::AttributeName(a.clone()),
                        Step::Index(i) => Selector::ElementKeyInt(*i),
                        Step::Key(k) => Selector::ElementKeyString(k.clone()),
                    }),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub error: bool,
    pub summary: String,
    pub detail: String,
    pub path: AttributePath,
}

/// The diagnostics of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(
        &mut self,
        summary: impl Into<String>,
        detail: impl Into<String>,
        path: AttributePath,
    ) {
        self.0.push(Diagnostic {
            error: true,
            summary: summary.into(),
            detail: detail.into(),
            path,
        });
    }
    pub fn warning(
        &mut self,
        summary: impl Into<String>,
        detail: impl Into<String>,
        path: AttributePath,
    ) {
        self.0.push(Diagnostic {
            error: false,
            summary: summary.into(),
            detail: detail.into(),
            path,
        });
    }
    pub fn root_error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.error(summary, detail, AttributePath::root());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub(crate) fn to_proto(&self) -> Vec<proto::Diagnostic> {
        self.0
            .iter()
            .map(|d| proto::Diagnostic {
                severity: if d.error {
                    proto::diagnostic::Severity::Error
                } else {
                    proto::diagnostic::Severity::Warning
                } as i32,
                summary: d.summary.clone(),
                detail: d.detail.clone(),
                attribute: (!d.path.0.is_empty()).then(|| d.path.to_proto()),
            })
            .collect()
    }
}
