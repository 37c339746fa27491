//! The provider's documentation in the Terraform Registry's layout (`docs/index.md`,
//! `docs/resources/<name>.md`, `docs/data-sources/<name>.md`, `docs/list-resources/<name>.md`,
//! `docs/actions/<name>.md`, `docs/ephemeral-resources/<name>.md`), generated from the shared schema
//! descriptions and the examples under `examples/`. `planner/tests/docs.rs` fails when `docs/` is
//! stale; `UPDATE_DOCS=1 cargo test -p planner --test docs` rewrites it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::schema::{self, AttrSpec, BlockSpec, Kind, Presence, ResourceSpec};

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::String => "String",
        Kind::Bool => "Boolean",
        Kind::Number => "Number",
        Kind::StringList => "List of String",
        Kind::StringMap => "Map of String",
        Kind::StringListMap => "Map of List of String",
    }
}

fn attr_line(a: &AttrSpec) -> String {
    let mut kind = kind_name(a.kind).to_string();
    if a.sensitive {
        kind.push_str(", Sensitive");
    }
    if a.write_only {
        kind.push_str(", Write-only");
    }
    if a.deprecated {
        kind.push_str(", Deprecated");
    }
    let env = a
        .env
        .map(|e| format!(" Falls back to the `{e}` environment variable."))
        .unwrap_or_default();
    format!("- `{}` ({kind}) {}{env}\n", a.name, a.description)
}

fn section(
    out: &mut String,
    title: &str,
    attrs: &[&AttrSpec],
    blocks: &[&BlockSpec],
    anchor: &str,
) {
    if attrs.is_empty() && blocks.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    for a in attrs {
        out.push_str(&attr_line(a));
    }
    for b in blocks {
        let _ = writeln!(
            out,
            "- `{}` (Block {}) {} (see [below for nested schema](#nestedblock--{anchor}{}))",
            b.name,
            if b.max_one { "List, Max: 1" } else { "List" },
            b.description,
            b.name
        );
    }
    out.push('\n');
}

fn schema_body(out: &mut String, attrs: &[AttrSpec], blocks: &[BlockSpec], anchor: &str) {
    let pick = |p: &[Presence]| -> Vec<&AttrSpec> {
        attrs.iter().filter(|a| p.contains(&a.presence)).collect()
    };
    let required_blocks: Vec<&BlockSpec> = Vec::new();
    let optional_blocks: Vec<&BlockSpec> = blocks.iter().collect();
    section(
        out,
        "Required",
        &pick(&[Presence::Required]),
        &required_blocks,
        anchor,
    );
    section(
        out,
        "Optional",
        &pick(&[Presence::Optional, Presence::OptionalComputed]),
        &optional_blocks,
        anchor,
    );
    section(out, "Read-Only", &pick(&[Presence::Computed]), &[], anchor);
    for b in blocks {
        let _ = writeln!(out, "<a id=\"nestedblock--{anchor}{}\"></a>", b.name);
        let _ = writeln!(out, "### Nested Schema for `{anchor}{}`\n", b.name);
        schema_body(out, b.attrs, b.blocks, &format!("{anchor}{}--", b.name));
    }
}

fn front_matter(out: &mut String, title: &str, description: &str) {
    let _ = writeln!(
        out,
        "---\npage_title: \"{title} - terraform-provider-baremetal\"\nsubcategory: \"\"\ndescription: |-\n  {description}\n---\n"
    );
}

fn example(out: &mut String, path: &Path, lang: &str, heading: &str, intro: &str) {
    if let Ok(text) = std::fs::read_to_string(path) {
        let _ = writeln!(out, "## {heading}\n");
        if !intro.is_empty() {
            let _ = writeln!(out, "{intro}\n");
        }
        let _ = writeln!(out, "```{lang}\n{}\n```\n", text.trim_end());
    }
}

/// The `import` block by identity (Terraform 1.12 and later) for the example's
/// `terraform import ADDRESS NAME` line.
fn identity_import(out: &mut String, import_sh: &Path) {
    let Ok(text) = std::fs::read_to_string(import_sh) else {
        return;
    };
    let Some((address, name)) = text.lines().find_map(|l| {
        let mut w = l.strip_prefix("terraform import ")?.split_whitespace();
        Some((w.next()?.to_string(), w.next()?.to_string()))
    }) else {
        return;
    };
    let _ = writeln!(
        out,
        "With Terraform 1.12 and later, by the resource's identity (its `name`):\n\n```terraform\nimport {{\n  to       = {address}\n  identity = {{ name = \"{name}\" }}\n}}\n```\n"
    );
}

fn resource_page(r: &ResourceSpec, examples: &Path, data: bool) -> String {
    let mut out = String::new();
    let what = if data { "Data Source" } else { "Resource" };
    front_matter(&mut out, &format!("{} {what}", r.name), r.description);
    let _ = writeln!(out, "# {} ({what})\n\n{}\n", r.name, r.description);
    let dir = examples
        .join(if data { "data-sources" } else { "resources" })
        .join(r.name);
    example(
        &mut out,
        &dir.join(if data {
            "data-source.tf"
        } else {
            "resource.tf"
        }),
        "terraform",
        "Example Usage",
        "",
    );
    let _ = writeln!(out, "## Schema\n");
    schema_body(&mut out, r.attrs, r.blocks, "");
    if !data {
        let secrets = r.attrs.iter().any(|a| a.write_only);
        example(
            &mut out,
            &dir.join("import.sh"),
            "shell",
            "Import",
            if secrets {
                "Import is supported using the following syntax. Secrets are never read back into state: the first plan after an import updates only the write-only versions (or a legacy `password`) in place, then nothing changes:"
            } else {
                "Import is supported using the following syntax; a plan right after an import shows no changes:"
            },
        );
        identity_import(&mut out, &dir.join("import.sh"));
    }
    out.trim_end().to_string() + "\n"
}

fn index_page(examples: &Path) -> String {
    let mut out = String::new();
    front_matter(
        &mut out,
        "Provider: baremetal",
        "Bare-metal servers through their BMCs (Redfish) and top-of-rack switches.",
    );
    out.push_str(
        "# baremetal Provider\n\n\
         Bare-metal servers through their BMCs (Redfish) and top-of-rack switches, on the same engine as the \
         `bmplan` planner: one configuration serves both tools. Reads go to the live BMCs and switches, so \
         `terraform plan` shows out-of-band changes; a profile change is applied with one reboot per node.\n\n\
         Every provider attribute falls back to a `BAREMETAL_*` environment variable, so pipelines need no \
         secrets in HCL. Credentials are sealed at rest in the inventory with the credentials key.\n\n",
    );
    example(
        &mut out,
        &examples.join("provider/provider.tf"),
        "terraform",
        "Example Usage",
        "",
    );
    let _ = writeln!(out, "## Schema\n");
    schema_body(&mut out, schema::PROVIDER, &[], "");
    out.push_str("## Resources and data sources\n\n");
    for r in schema::RESOURCES {
        let _ = writeln!(
            out,
            "- [`{0}`](resources/{1}.md): {2}",
            r.name,
            short(r.name),
            r.description
        );
    }
    for d in schema::DATA_SOURCES {
        let _ = writeln!(
            out,
            "- [`{0}`](data-sources/{1}.md) (data source): {2}",
            d.name,
            short(d.name),
            d.description
        );
    }
    for kind in &NEWER_KINDS {
        for r in kind.specs {
            let _ = writeln!(
                out,
                "- [`{0}`]({1}/{2}.md) ({3}): {4}",
                r.name,
                kind.dir,
                short(r.name),
                kind.title.to_ascii_lowercase(),
                r.description
            );
        }
    }
    out
}

fn short(name: &str) -> &str {
    name.strip_prefix("baremetal_").unwrap_or(name)
}

/// Every page, by path under `docs/`.
pub fn registry_docs(examples: &Path) -> Vec<(PathBuf, String)> {
    let mut pages = vec![(PathBuf::from("index.md"), index_page(examples))];
    for r in schema::RESOURCES {
        pages.push((
            PathBuf::from(format!("resources/{}.md", short(r.name))),
            resource_page(r, examples, false),
        ));
    }
    for d in schema::DATA_SOURCES {
        pages.push((
            PathBuf::from(format!("data-sources/{}.md", short(d.name))),
            resource_page(d, examples, true),
        ));
    }
    for kind in &NEWER_KINDS {
        for spec in kind.specs {
            pages.push((
                PathBuf::from(format!("{}/{}.md", kind.dir, short(spec.name))),
                kind_page(kind, spec, examples),
            ));
        }
    }
    pages
}

/// The kinds newer Terraform releases add: list resources, actions, ephemeral resources.
struct NewerKind {
    /// Under `docs/` and `examples/`.
    dir: &'static str,
    /// As a page title says it.
    title: &'static str,
    /// The example's file name under `examples/<dir>/<type>/`.
    example: &'static str,
    /// Which Terraform has it, and what the page says first.
    intro: &'static str,
    specs: &'static [ResourceSpec],
}

const NEWER_KINDS: [NewerKind; 3] = [
    NewerKind {
        dir: "list-resources",
        title: "List Resource",
        example: "query.tfquery.hcl",
        intro: "Terraform 1.14 and later, in a `.tfquery.hcl` file, with `terraform query`. The filters go in the `list` block's `config {}`; each object found is identified by its `name` (the resource's identity). `terraform query -generate-config-out=generated.tf` writes a resource block and an `import` block for each: secrets are never read back, so fill in the write-only password (`password_wo`, `password_wo_version`) before the first plan.",
        specs: schema::LIST_RESOURCES,
    },
    NewerKind {
        dir: "actions",
        title: "Action",
        example: "action.tf",
        intro: "Terraform 1.14 and later: from an `action_trigger` in a resource's `lifecycle` block, or on demand with `terraform apply -invoke=action.<type>.<name>`. Progress is shown as it goes; a failure fails the run with its reason. Every invocation and every refusal is in the audit log (`bmplan audit`).",
        specs: schema::ACTIONS,
    },
    NewerKind {
        dir: "ephemeral-resources",
        title: "Ephemeral Resource",
        example: "ephemeral.tf",
        intro: "Terraform 1.10 and later. Opened for one run and closed at its end; its values never enter a plan or state, so they may go only where Terraform accepts ephemeral values (a provider's configuration, a provisioner, a write-only attribute, another ephemeral resource, a local).",
        specs: schema::EPHEMERAL_RESOURCES,
    },
];

fn kind_page(kind: &NewerKind, r: &ResourceSpec, examples: &Path) -> String {
    let mut out = String::new();
    front_matter(
        &mut out,
        &format!("{} {}", r.name, kind.title),
        r.description,
    );
    let _ = writeln!(
        out,
        "# {} ({})

{}

{}
",
        r.name, kind.title, r.description, kind.intro
    );
    let file = examples.join(kind.dir).join(r.name).join(kind.example);
    example(&mut out, &file, "terraform", "Example Usage", "");
    let _ = writeln!(
        out,
        "## Schema
"
    );
    schema_body(&mut out, r.attrs, r.blocks, "");
    out.trim_end().to_string() + "\n"
}
