//! Arithmetic in expressions, checked.
//!
//! `hcl-rs` computes `+ - * / %` on machine integers: `x % 0` panics, and an overflowing `+` or
//! `*` panics in a debug build and wraps silently in a release build (`18446744073709551615 + 1`
//! is `0`); `x / 0` makes an infinity that is not a number. Before an expression is evaluated,
//! every arithmetic operation in it (in templates too) is rewritten as a call to one of the
//! functions declared here, which compute on 128-bit integers or finite floats and fail with a
//! message instead. The loader puts that message at the attribute, as for any other error.

use hcl::eval::{Context, ErrorKind, FuncArgs, FuncDef, ParamType};
use hcl::expr::{
    BinaryOp, BinaryOperator, Expression, FuncCall, FuncName, ObjectKey, Operation, TemplateExpr,
    TraversalOperator,
};
use hcl::template::{Directive, Element};
use hcl::{Number, Template, Value};

/// The prefix of the checked functions' names; nobody writes it.
const PREFIX: &str = "__baremetal_checked_";

/// The operators computed here, with the name of each one's function and the function.
/// A checked function's body.
type Checked = fn(FuncArgs) -> Result<Value, String>;

const OPERATORS: [(BinaryOperator, &str, Checked); 5] = [
    (BinaryOperator::Plus, "add", |a| {
        call(BinaryOperator::Plus, a)
    }),
    (BinaryOperator::Minus, "sub", |a| {
        call(BinaryOperator::Minus, a)
    }),
    (BinaryOperator::Mul, "mul", |a| call(BinaryOperator::Mul, a)),
    (BinaryOperator::Div, "div", |a| call(BinaryOperator::Div, a)),
    (BinaryOperator::Mod, "mod", |a| call(BinaryOperator::Mod, a)),
];

/// Declares the checked functions in `ctx`.
pub(super) fn declare(ctx: &mut Context) {
    for (_, name, f) in OPERATORS {
        ctx.declare_func(
            format!("{PREFIX}{name}"),
            FuncDef::builder()
                .param(ParamType::Number)
                .param(ParamType::Number)
                .build(f),
        );
    }
}

fn call(op: BinaryOperator, args: FuncArgs) -> Result<Value, String> {
    let (Some(a), Some(b)) = (args[0].as_number(), args[1].as_number()) else {
        return Err(format!("{} needs two numbers", op.as_str()));
    };
    compute(op, a, b).map(Value::Number)
}

/// The message of an evaluation error: a checked function's own message stands for the
/// operation the user wrote.
pub(super) fn message(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::FuncCall(name, msg) if name.name.as_str().starts_with(PREFIX) => msg.clone(),
        other => other.to_string(),
    }
}

/// `a op b`, or why it has no value.
pub(super) fn compute(op: BinaryOperator, a: &Number, b: &Number) -> Result<Number, String> {
    let shown = || format!("{a} {} {b}", op.as_str());
    if let (Some(x), Some(y)) = (integer(a), integer(b)) {
        let r = match op {
            BinaryOperator::Plus => x.checked_add(y),
            BinaryOperator::Minus => x.checked_sub(y),
            BinaryOperator::Mul => x.checked_mul(y),
            BinaryOperator::Div if y == 0 => return Err(format!("{}: division by zero", shown())),
            BinaryOperator::Div if x % y != 0 => return float(x as f64 / y as f64, &shown),
            BinaryOperator::Div => x.checked_div(y),
            BinaryOperator::Mod if y == 0 => {
                return Err(format!("{}: remainder of a division by zero", shown()))
            }
            BinaryOperator::Mod => x.checked_rem(y),
            _ => return Err(format!("{} is not arithmetic", op.as_str())),
        };
        return r
            .and_then(whole)
            .ok_or_else(|| format!("{}: the result is too large", shown()));
    }
    let (x, y) = (
        a.as_f64().unwrap_or(f64::NAN),
        b.as_f64().unwrap_or(f64::NAN),
    );
    match op {
        BinaryOperator::Plus => float(x + y, &shown),
        BinaryOperator::Minus => float(x - y, &shown),
        BinaryOperator::Mul => float(x * y, &shown),
        BinaryOperator::Div if y == 0.0 => Err(format!("{}: division by zero", shown())),
        BinaryOperator::Div => float(x / y, &shown),
        BinaryOperator::Mod if y == 0.0 => {
            Err(format!("{}: remainder of a division by zero", shown()))
        }
        BinaryOperator::Mod => float(x % y, &shown),
        _ => Err(format!("{} is not arithmetic", op.as_str())),
    }
}

fn integer(n: &Number) -> Option<i128> {
    if n.is_f64() {
        return None;
    }
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn whole(n: i128) -> Option<Number> {
    if let Ok(v) = i64::try_from(n) {
        return Some(Number::from(v));
    }
    u64::try_from(n).ok().map(Number::from)
}

fn float(v: f64, shown: &dyn Fn() -> String) -> Result<Number, String> {
    Number::from_f64(v).ok_or_else(|| format!("{}: the result is not a finite number", shown()))
}

/// `expr` with every arithmetic operation a call to its checked function.
pub(super) fn checked(expr: Expression) -> Result<Expression, String> {
    Rewrite { changed: false }.expr(expr)
}

/// One walk over an expression, rewriting its arithmetic; `changed` says whether it found any,
/// so a template without arithmetic is left as written.
struct Rewrite {
    changed: bool,
}

impl Rewrite {
    fn expr(&mut self, expr: Expression) -> Result<Expression, String> {
        Ok(match expr {
            Expression::Array(items) => Expression::Array(
                items
                    .into_iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(obj) => {
                let mut out = hcl::Object::new();
                for (k, v) in obj {
                    let k = match k {
                        ObjectKey::Expression(e) => ObjectKey::Expression(self.expr(e)?),
                        other => other,
                    };
                    out.insert(k, self.expr(v)?);
                }
                Expression::Object(out)
            }
            Expression::TemplateExpr(t) => self.template_expr(*t)?,
            Expression::Traversal(mut t) => {
                t.expr = self.expr(t.expr)?;
                for op in t.operators.iter_mut() {
                    if let TraversalOperator::Index(e) = op {
                        self.in_place(e)?;
                    }
                }
                Expression::Traversal(t)
            }
            Expression::FuncCall(mut f) => {
                f.args = f
                    .args
                    .into_iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?;
                Expression::FuncCall(f)
            }
            Expression::Parenthesis(e) => Expression::Parenthesis(Box::new(self.expr(*e)?)),
            Expression::Conditional(mut c) => {
                c.cond_expr = self.expr(c.cond_expr)?;
                c.true_expr = self.expr(c.true_expr)?;
                c.false_expr = self.expr(c.false_expr)?;
                Expression::Conditional(c)
            }
            Expression::Operation(op) => match *op {
                Operation::Unary(mut u) => {
                    u.expr = self.expr(u.expr)?;
                    Expression::Operation(Box::new(Operation::Unary(u)))
                }
                Operation::Binary(b) => self.binary(b)?,
            },
            Expression::ForExpr(mut f) => {
                f.collection_expr = self.expr(f.collection_expr)?;
                f.key_expr = f.key_expr.map(|e| self.expr(e)).transpose()?;
                f.value_expr = self.expr(f.value_expr)?;
                f.cond_expr = f.cond_expr.map(|e| self.expr(e)).transpose()?;
                Expression::ForExpr(f)
            }
            other => other,
        })
    }

    /// A chain of binary operations, rebuilt by precedence with its arithmetic checked.
    ///
    /// The parser leaves `a - b * c == d` as one chain in the order written, and `hcl-rs` orders
    /// it by precedence when it evaluates; `a - b - c` it leaves as `a - (b - c)`. Here the chain
    /// is read back in the order written and rebuilt as HCL reads it: by precedence, left to
    /// right (`(a - (b * c)) == d`, `(a - b) - c`), each arithmetic step a checked call.
    fn binary(&mut self, b: BinaryOp) -> Result<Expression, String> {
        let mut operands = Vec::new();
        let mut operators = Vec::new();
        flatten(
            Expression::Operation(Box::new(Operation::Binary(b))),
            &mut operands,
            &mut operators,
        );
        let mut operands = operands.into_iter();
        let first = operands.next().unwrap_or(Expression::Null);
        let mut out = vec![self.expr(first)?];
        let mut pending: Vec<BinaryOperator> = Vec::new();
        for (op, rhs) in operators.into_iter().zip(operands) {
            while pending
                .last()
                .is_some_and(|top| top.precedence() >= op.precedence())
            {
                self.reduce(&mut out, &mut pending);
            }
            pending.push(op);
            out.push(self.expr(rhs)?);
        }
        while !pending.is_empty() {
            self.reduce(&mut out, &mut pending);
        }
        Ok(out.pop().unwrap_or(Expression::Null))
    }

    /// Joins the last two operands with the last operator.
    fn reduce(&mut self, out: &mut Vec<Expression>, pending: &mut Vec<BinaryOperator>) {
        let (Some(op), Some(rhs), Some(lhs)) = (pending.pop(), out.pop(), out.pop()) else {
            return;
        };
        out.push(match OPERATORS.iter().find(|(o, _, _)| *o == op) {
            Some((_, name, _)) => {
                self.changed = true;
                Expression::FuncCall(Box::new(FuncCall {
                    name: FuncName::new(format!("{PREFIX}{name}")),
                    args: vec![lhs, rhs],
                    expand_final: false,
                }))
            }
            None => Expression::Operation(Box::new(Operation::Binary(BinaryOp::new(lhs, op, rhs)))),
        });
    }

    /// A template with arithmetic in it, rewritten; one without, as it is.
    fn template_expr(&mut self, t: TemplateExpr) -> Result<Expression, String> {
        let Ok(mut template) = Template::from_expr(&t) else {
            // Not a template that parses: evaluating it reports the error at its place.
            return Ok(Expression::TemplateExpr(Box::new(t)));
        };
        let mut inner = Rewrite { changed: false };
        inner.template(&mut template)?;
        if !inner.changed {
            return Ok(Expression::TemplateExpr(Box::new(t)));
        }
        self.changed = true;
        let text = hcl::format::to_string(&template)
            .map_err(|e| format!("a template with arithmetic could not be checked: {e}"))?;
        Ok(Expression::TemplateExpr(Box::new(
            TemplateExpr::QuotedString(text),
        )))
    }

    /// An expression rewritten where it stands.
    fn in_place(&mut self, e: &mut Expression) -> Result<(), String> {
        *e = self.expr(std::mem::replace(e, Expression::Null))?;
        Ok(())
    }

    fn template(&mut self, t: &mut Template) -> Result<(), String> {
        for e in t.elements_mut() {
            match e {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.in_place(&mut i.expr)?,
                Element::Directive(Directive::If(d)) => {
                    self.in_place(&mut d.cond_expr)?;
                    self.template(&mut d.true_template)?;
                    if let Some(f) = d.false_template.as_mut() {
                        self.template(f)?;
                    }
                }
                Element::Directive(Directive::For(d)) => {
                    self.in_place(&mut d.collection_expr)?;
                    self.template(&mut d.template)?;
                }
            }
        }
        Ok(())
    }
}

/// The operands and operators of a chain, in the order written.
fn flatten(e: Expression, operands: &mut Vec<Expression>, operators: &mut Vec<BinaryOperator>) {
    match e {
        Expression::Operation(op) => match *op {
            Operation::Binary(b) => {
                flatten(b.lhs_expr, operands, operators);
                operators.push(b.operator);
                flatten(b.rhs_expr, operands, operators);
            }
            unary => operands.push(Expression::Operation(Box::new(unary))),
        },
        other => operands.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(src: &str) -> Result<Value, String> {
        let body = hcl::parse(&format!("x = {src}\n")).map_err(|e| e.to_string())?;
        let expr = body.attributes().next().unwrap().expr().clone();
        let mut ctx = Context::new();
        declare(&mut ctx);
        ctx.declare_var("n", 0);
        checked(expr)?.evaluate(&ctx).map_err(|e| message(e.kind()))
    }

    #[test]
    fn remainder_and_division_by_zero_are_errors_not_panics() {
        for src in [
            "7 % 0",
            "7 % n",
            "7 / 0",
            "7.5 / 0",
            "7.5 % 0",
            "[for x in [0]: 1 % x]",
        ] {
            let e = eval(src).unwrap_err();
            assert!(e.contains("by zero"), "{src}: {e}");
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_wrapped_number() {
        for src in [
            "18446744073709551615 + 1",
            "-9223372036854775808 - 1 - 18446744073709551615",
            "18446744073709551615 * 2",
            "1e308 * 10",
        ] {
            let e = eval(src).unwrap_err();
            assert!(
                e.contains("too large") || e.contains("not a finite"),
                "{src}: {e}"
            );
        }
    }

    #[test]
    fn arithmetic_keeps_its_values() {
        let cases = [
            ("1 + 2", "3"),
            ("2 - 5", "-3"),
            ("6 * 7", "42"),
            ("7 / 2", "3.5"),
            ("8 / 2", "4"),
            ("-7 % 3", "-1"),
            ("7.5 % 2", "1.5"),
            ("1.5 + 1", "2.5"),
            ("18446744073709551614 + 1", "18446744073709551615"),
            ("(1 + 2) * 3 == 9", "true"),
            ("10 - 2 - 3", "5"),
            ("100 / 10 / 5", "2"),
            ("2 * 3 + 4 * 5 == 26 && 1 < 2", "true"),
            ("1 + 2 * 3 - 4 % 3", "6"),
            ("-2 * -3", "6"),
            ("[for i in [1, 2]: i * 10]", "[10,20]"),
            ("\"a${1 + 1}b%{ if 2 > 1 }${3 * 3}%{ endif }\"", "\"a2b9\""),
        ];
        for (src, want) in cases {
            let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(serde_json::to_string(&got).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn a_template_with_arithmetic_keeps_its_quotes_and_escapes() {
        let got = eval(r#""q\"${1 + 1}\n\\${"x"}""#).unwrap();
        assert_eq!(got, Value::from("q\"2\n\\x"));
    }

    #[test]
    fn an_error_inside_a_template_is_shown_as_the_operation() {
        let e = eval("\"${1 % n}\"").unwrap_err();
        assert_eq!(e, "1 % 0: remainder of a division by zero");
    }
}
