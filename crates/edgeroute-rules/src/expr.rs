//! [`Expr`], the checked expression, and [`Filter`], the compiled one.

use std::fmt;
use std::sync::Arc;

use crate::ast::{Node, OperandKind, Printer};
use crate::compile::Compiler;
use crate::scheme::{FieldId, Scheme};
use crate::value::FieldSource;

/// A parsed and type-checked expression.
///
/// `Display` prints canonical text (English operators, normalized spacing, quoted strings)
/// that parses back to an equal `Expr`. Equality ignores spans.
#[derive(Clone)]
pub struct Expr {
    pub(crate) scheme: Scheme,
    pub(crate) root: Node,
    fields: Vec<FieldId>,
    rates: Vec<u32>,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expr").field(&self.to_string()).finish()
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printer {
            scheme: &self.scheme,
        }
        .node(f, &self.root)
    }
}

fn walk_node(node: &Node, fields: &mut Vec<FieldId>, rates: &mut Vec<u32>) {
    match node {
        Node::Logic { terms, .. } => terms.iter().for_each(|t| walk_node(t, fields, rates)),
        Node::Not { inner, .. } | Node::Group { inner, .. } => walk_node(inner, fields, rates),
        Node::Compare { lhs, .. } => walk_operand(lhs, fields, rates),
        Node::Bare { value } => walk_operand(value, fields, rates),
    }
}

fn walk_operand(op: &crate::ast::Operand, fields: &mut Vec<FieldId>, rates: &mut Vec<u32>) {
    match &op.kind {
        OperandKind::Field(id) => {
            if !fields.contains(id) {
                fields.push(*id);
            }
        }
        OperandKind::Index { base, .. } => walk_operand(base, fields, rates),
        OperandKind::Call { args, .. } => args.iter().for_each(|a| walk_operand(a, fields, rates)),
        OperandKind::Reduce { inner, .. } => walk_node(inner, fields, rates),
        OperandKind::Rate(p) => {
            if !rates.contains(p) {
                rates.push(*p);
            }
        }
        OperandKind::Literal(_) => {}
    }
}

impl Expr {
    pub(crate) fn new(scheme: Scheme, root: Node) -> Self {
        let mut fields = Vec::new();
        let mut rates = Vec::new();
        walk_node(&root, &mut fields, &mut rates);
        Expr {
            scheme,
            root,
            fields,
            rates,
        }
    }

    /// Compiles into a [`Filter`]: regexes, substring finders, sets and wildcard matchers are
    /// built here, once.
    #[must_use]
    pub fn compile(&self) -> Filter {
        let f = Compiler {
            scheme: &self.scheme,
        }
        .node(&self.root)
        .into_fn();
        Filter {
            f,
            text: Arc::from(self.to_string()),
        }
    }

    /// The fields the expression reads, each once, in order of first use.
    pub fn fields(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.fields.iter().copied()
    }

    /// The periods (seconds) of every `rate(..)` term, each once.
    pub fn rate_periods(&self) -> impl Iterator<Item = u32> + '_ {
        self.rates.iter().copied()
    }

    /// The scheme this expression was checked against.
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Evaluates the tree directly, without compiling: a slow reference model used by the
    /// property tests to check the compiler. Not for production use.
    #[doc(hidden)]
    #[must_use]
    pub fn interpret(&self, src: &dyn FieldSource) -> bool {
        crate::interp::Interp {
            scheme: &self.scheme,
        }
        .node(&self.root, src)
    }
}

/// A compiled expression: `Send + Sync + 'static`, cheap to clone (shared).
#[derive(Clone)]
pub struct Filter {
    f: crate::compile::SharedFn,
    text: Arc<str>,
}

impl Filter {
    /// Whether the request described by `src` matches. Never panics; allocates only inside
    /// value-building functions (see the crate docs).
    #[inline]
    #[must_use]
    pub fn execute(&self, src: &dyn FieldSource) -> bool {
        (self.f)(src)
    }

    /// The canonical text of the expression this filter was compiled from.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter").field(&&*self.text).finish()
    }
}
