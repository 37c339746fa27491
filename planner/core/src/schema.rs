//! The configuration schema shared by `bmplan` and the Terraform provider: one description of every
//! block and attribute, so that one configuration serves both tools. The provider turns these specs
//! into tfplugin6 schemas; `bmplan` will load HCL against them.

/// The value type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    Number,
    /// A list of strings.
    StringList,
    /// A map of strings (BIOS attributes: values are converted to the registry's types).
    StringMap,
    /// A map of lists of strings (a host's addresses, by network).
    StringListMap,
}

/// Whether the practitioner must, may or cannot set the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    OptionalComputed,
}

/// One attribute of a block.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
    /// Never shown in plans, logs or errors.
    pub sensitive: bool,
    /// The environment variable used when the attribute is not set in configuration.
    pub env: Option<&'static str>,
    pub description: &'static str,
    /// Given in configuration, never kept: Terraform (1.11 and later) keeps it out of plans and
    /// state. Named `<secret>_wo`, it stands for `<secret>` (see [`secret_text`]).
    pub write_only: bool,
    /// Still accepted, with a warning that says what replaces it.
    pub deprecated: bool,
}

/// The suffix of a write-only attribute's name.
pub const WRITE_ONLY: &str = "_wo";

/// A secret's value: its write-only form (`password_wo`) when set, else the attribute itself
/// (`password`). Both are the same secret to everything but Terraform's state.
pub fn secret_text<'a>(
    attrs: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a str> {
    attrs
        .get(&format!("{name}{WRITE_ONLY}"))
        .and_then(serde_json::Value::as_str)
        .or_else(|| attrs.get(name).and_then(serde_json::Value::as_str))
}

const fn optional(
    name: &'static str,
    kind: Kind,
    env: &'static str,
    description: &'static str,
) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        presence: Presence::Optional,
        sensitive: false,
        env: Some(env),
        description,
        write_only: false,
        deprecated: false,
    }
}

/// The `provider "baremetal"` block.
pub const PROVIDER: &[AttrSpec] = &[
    optional(
        "inventory",
        Kind::String,
        "BAREMETAL_INVENTORY",
        "Inventory database URL: `sqlite:///path/inventory.db` (the default, in the user's data directory) or `postgres://…` for a fleet shared by several pipelines.",
    ),
    optional("project", Kind::String, "BAREMETAL_PROJECT", "Project the provider acts for. Hosts and quotas belong to projects."),
    optional("role", Kind::String, "BAREMETAL_ROLE", "Role within the project: `admin` (nodes, flavors, networks, switches, profiles) or `member` (the project's hosts only). Default `admin`, as for `bmplan`."),
    AttrSpec {
        name: "credentials_key",
        kind: Kind::String,
        presence: Presence::Optional,
        sensitive: true,
        env: Some("BAREMETAL_CREDENTIALS_KEY"),
        description: "Key that encrypts BMC and switch credentials at rest in the inventory (base64, 32 bytes). Prefer the environment variable or `credentials_key_file`.",
        write_only: false,
        deprecated: false,
    },
    optional("credentials_key_file", Kind::String, "BAREMETAL_CREDENTIALS_KEY_FILE", "File holding the credentials key, as an alternative to `credentials_key`."),
    optional("ca_cert", Kind::String, "BAREMETAL_CA_CERT", "PEM bundle of the CAs that issued BMC certificates. TLS verification is always on unless `insecure` is set."),
    optional("insecure", Kind::Bool, "BAREMETAL_INSECURE", "Skip TLS verification of BMCs. An explicit opt-in for labs; never the default."),
    optional("max_parallel", Kind::Number, "BAREMETAL_MAX_PARALLEL", "How many nodes are changed at once in a rolling wave. Default 10."),
    optional("default_timeout", Kind::String, "BAREMETAL_DEFAULT_TIMEOUT", "Default timeout of operations that wait (power, tasks, deployment), as a duration such as `30s`, `20m` or `1h`. Default `30m`."),
    optional("media_listen", Kind::String, "BAREMETAL_MEDIA_LISTEN", "Address the deployment endpoint listens on: it serves config drives to BMCs and takes installed systems' callbacks. Default `127.0.0.1:0` (loopback, any port); BMCs on another network need an address they can reach."),
    optional("media_url", Kind::String, "BAREMETAL_MEDIA_URL", "Base URL BMCs and installed systems are given for the deployment endpoint, when they reach it through another address than it listens on (a NAT, a proxy). Default `http://` + the listening address."),
];

const fn attr(
    name: &'static str,
    kind: Kind,
    presence: Presence,
    description: &'static str,
) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        presence,
        sensitive: false,
        env: None,
        description,
        write_only: false,
        deprecated: false,
    }
}

const fn secret(name: &'static str, presence: Presence, description: &'static str) -> AttrSpec {
    AttrSpec {
        name,
        kind: Kind::String,
        presence,
        sensitive: true,
        env: None,
        description,
        write_only: false,
        deprecated: false,
    }
}

/// A secret kept in Terraform state, for Terraform before 1.11: still accepted, with a warning
/// naming its write-only form.
const fn legacy_secret(name: &'static str, description: &'static str) -> AttrSpec {
    AttrSpec {
        deprecated: true,
        ..secret(name, Presence::Optional, description)
    }
}

/// The write-only form of a secret (`password_wo`): never in a plan or state.
const fn write_only(name: &'static str, description: &'static str) -> AttrSpec {
    AttrSpec {
        write_only: true,
        ..secret(name, Presence::Optional, description)
    }
}

use Kind::{Bool, Number, StringList, StringMap};
use Presence::{Computed, Optional, Required};

/// A nested block of a resource (`port { … }`, `boot { … }`). Blocks may repeat unless `max_one`.
#[derive(Debug, Clone, Copy)]
pub struct BlockSpec {
    pub name: &'static str,
    pub max_one: bool,
    pub attrs: &'static [AttrSpec],
    pub blocks: &'static [BlockSpec],
    pub description: &'static str,
}

/// One `baremetal_*` resource type.
#[derive(Debug, Clone, Copy)]
pub struct ResourceSpec {
    pub name: &'static str,
    pub attrs: &'static [AttrSpec],
    pub blocks: &'static [BlockSpec],
    pub description: &'static str,
}

impl ResourceSpec {
    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn block(&self, name: &str) -> Option<&BlockSpec> {
        self.blocks.iter().find(|b| b.name == name)
    }
}

impl BlockSpec {
    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn block(&self, name: &str) -> Option<&BlockSpec> {
        self.blocks.iter().find(|b| b.name == name)
    }
}

const ID: AttrSpec = attr("id", Kind::String, Computed, "The resource's id: its name.");

const fn computed(name: &'static str, kind: Kind, description: &'static str) -> AttrSpec {
    attr(name, kind, Computed, description)
}

/// `timeouts { create = "30m" … }` on every resource whose operations wait on hardware.
const TIMEOUTS: BlockSpec = BlockSpec {
    name: "timeouts",
    max_one: true,
    description: "How long operations may take before they fail, as durations (`30s`, `20m`, `1h`). Default: the provider's `default_timeout`.",
    attrs: &[
        attr("create", Kind::String, Optional, "Timeout of the create operation."),
        attr("update", Kind::String, Optional, "Timeout of an update."),
        attr("delete", Kind::String, Optional, "Timeout of the delete operation."),
    ],
    blocks: &[],
};

pub const SWITCH: ResourceSpec = ResourceSpec {
    name: "baremetal_switch",
    description: "A top-of-rack switch the planner configures VLANs and ports on.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Switch name, unique in the inventory."),
        attr("driver", Kind::String, Required, "`cisco_ios` (SSH CLI), `juniper_netconf`, `juniper_netconf_qfx` (NETCONF) or `arista_eapi`."),
        attr("address", Kind::String, Required, "`HOST:PORT` of the management service (SSH, NETCONF or eAPI)."),
        attr("username", Kind::String, Required, "Login user."),
        write_only("password_wo", "Login password, write-only: sealed at rest in the inventory and never kept in Terraform's plan or state (Terraform 1.11 and later). Required unless `password` is set."),
        attr("password_wo_version", Number, Optional, "Change it to send `password_wo` and `enable_password_wo` again (Terraform cannot see a write-only value change)."),
        legacy_secret("password", "Login password, for Terraform before 1.11: kept in Terraform's state. Use `password_wo`."),
        write_only("enable_password_wo", "Enable password, for switches that ask for one; write-only, like `password_wo`."),
        legacy_secret("enable_password", "Enable password, for Terraform before 1.11: kept in Terraform's state. Use `enable_password_wo`."),
        attr("rack", Kind::String, Optional, "Rack the switch serves: the failure domain of rolling waves."),
        computed("vlans", StringList, "VLAN ids the switch carries, as read from it."),
    ],
    blocks: &[],
};

pub const NETWORK: ResourceSpec = ResourceSpec {
    name: "baremetal_network",
    description: "A VLAN on the top-of-rack switches.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Network name."),
        attr("vlan_id", Number, Required, "VLAN id, 1 to 4094."),
        attr(
            "mtu",
            Number,
            Optional,
            "MTU of the network's ports, 576 to 9216.",
        ),
        attr(
            "role",
            Kind::String,
            Presence::OptionalComputed,
            "`tenant` (default), `provisioning` or `cleaning`.",
        ),
    ],
    blocks: &[BlockSpec {
        name: "subnet",
        max_one: false,
        description: "An IPv4 or IPv6 subnet on the network. Hosts on a network with subnets get static addresses from the inventory (on `static` subnets), written into their network configuration with the gateway as default route and the DNS servers; a network without subnets leaves hosts to DHCP. Subnets may not overlap, within a network or across networks.",
        attrs: &[
            attr("cidr", Kind::String, Required, "The subnet, `10.0.10.0/24` or `fd00:10::/64` (host bits zero)."),
            attr("gateway", Kind::String, Optional, "The router on the subnet, inside it; a host's default route for the family. Never allocated."),
            attr("dns_servers", StringList, Optional, "DNS servers written into hosts' network configuration."),
            attr("ranges", StringList, Optional, "Where allocation draws from, `FIRST-LAST` inclusive (`10.0.10.100-10.0.10.199`), inside the subnet. Default: the whole subnet."),
            attr("reserved", StringList, Optional, "Addresses never allocated (switches, VIPs, anything outside the inventory)."),
            attr("mode", Kind::String, Optional, "`static` (default: the inventory allocates, the host is configured with it), `dhcp` (the network's own DHCP server answers; nothing is allocated) or `slaac` (IPv6 only: the host autoconfigures from router advertisements)."),
        ],
        blocks: &[],
    }],
};

const VOLUME: BlockSpec = BlockSpec {
    name: "volume",
    max_one: false,
    description: "One RAID volume.",
    attrs: &[
        attr("name", Kind::String, Required, "Volume name, which identifies it on the controller."),
        attr("level", Kind::String, Required, "`RAID0`, `RAID1`, `RAID5`, `RAID6` or `RAID10`."),
        attr("drives", Number, Optional, "How many drives it spans (the first free ones). Default: what the level needs at least."),
        attr("controller", Kind::String, Optional, "Storage controller id; default the first one."),
    ],
    blocks: &[],
};

pub const PROFILE: ResourceSpec = ResourceSpec {
    name: "baremetal_profile",
    description: "A server profile: BIOS, boot, RAID and firmware settings that nodes take on.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Profile name."),
        attr("template", Kind::String, Optional, "Name of a profile to inherit from; this profile's settings override the template's."),
        attr("bios", StringMap, Optional, "BIOS attributes by registry name. Checked against each node's BIOS registry at plan time. A value changed on a node out of band shows here as drift."),
        attr("serials", StringList, Optional, "Offline configuration: serial numbers of servers that take this profile as soon as they are enrolled (or discovered), before they are even installed. The next apply configures them with no manual step."),
        attr("slots", StringList, Optional, "Offline configuration by place: chassis slots whose server takes this profile when it is enrolled (or discovered), as the BMC's chassis Location names them: \"RACK/U\" (Placement rack and offset, e.g. \"r1/5\"), and for a blade \"RACK/U/LABEL\" with its PartLocation service label (\"r1/5/Slot 3\"). A serial number match wins over a slot."),
        computed("nodes", StringList, "Nodes that take on this profile (directly, or through a profile that inherits from it)."),
    ],
    blocks: &[
        TIMEOUTS,
        BlockSpec {
            name: "boot",
            max_one: true,
            description: "Boot settings.",
            attrs: &[
                attr("mode", Kind::String, Optional, "`UEFI` or `Legacy`."),
                attr("secure_boot", Bool, Optional, "UEFI secure boot."),
            ],
            blocks: &[],
        },
        BlockSpec {
            name: "firmware",
            max_one: false,
            description: "A firmware component at a version, installed from an image at the profile's one reset.",
            attrs: &[
                attr("component", Kind::String, Required, "Firmware inventory id (`BIOS`, `BMC`, a NIC's id…)."),
                attr("version", Kind::String, Required, "The version the component must run."),
                attr("image_url", Kind::String, Required, "URL the BMC downloads the image from."),
            ],
            blocks: &[],
        },
        BlockSpec {
            name: "network_connection",
            max_one: true,
            description: "How the node's NICs connect: the networks of ports that list none, and the bond mode of bonded ports.",
            attrs: &[
                attr("networks", StringList, Optional, "Networks (names of `baremetal_network`) for every port of the node that lists none: one is an access port, several a trunk whose first is native."),
                attr("bond_mode", Kind::String, Optional, "The bond of ports that set `bond`, host side and switch side from one value: `802.3ad` (or `lacp`, the default: an LACP port-channel), `active-backup` (the switch ports stay independent ports with the bond's networks; the host fails over by link state) or `balance-xor` (a static port-channel). `static` is refused: it once meant a static port-channel on the switch and balance-xor on the host."),
            ],
            blocks: &[],
        },
        BlockSpec {
            name: "raid",
            max_one: true,
            description: "RAID layout. Volumes not listed are deleted.",
            attrs: &[],
            blocks: &[VOLUME],
        },
    ],
};

pub const NODE: ResourceSpec = ResourceSpec {
    name: "baremetal_node",
    description: "A physical server enrolled through its BMC.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Node name, unique in the inventory."),
        attr("bmc_url", Kind::String, Required, "BMC base URL: `https://HOST[:PORT]` (Redfish) or `ipmi://HOST[:PORT]` (IPMI 2.0 lanplus; no BIOS, RAID, firmware or virtual media: see the BMC guide)."),
        attr("system_id", Kind::String, Presence::OptionalComputed, "Redfish system id; needed when the BMC manages several, found when it manages one."),
        attr("username", Kind::String, Required, "BMC user."),
        write_only("password_wo", "BMC password, write-only: sealed at rest in the inventory and never kept in Terraform's plan or state (Terraform 1.11 and later). Required unless `password` is set."),
        attr("password_wo_version", Number, Optional, "Change it to send `password_wo` again (Terraform cannot see a write-only value change)."),
        legacy_secret("password", "BMC password, for Terraform before 1.11: kept in Terraform's state. Use `password_wo`."),
        attr("ca_cert", Kind::String, Optional, "PEM file of the CA that issued the BMC's certificate."),
        attr("fingerprint", Kind::String, Optional, "SHA-256 fingerprint of the BMC's certificate to pin."),
        attr("insecure", Bool, Optional, "Skip TLS verification (labs only)."),
        attr("profile", Kind::String, Optional, "Name of the profile the node takes on."),
        attr("rack", Kind::String, Optional, "Rack: the failure domain of rolling waves."),
        attr("maintenance", Bool, Presence::OptionalComputed, "Keep the node out of scheduling and of applies."),
        attr("boot_interface", Kind::String, Optional, "How the deploy agent boots on the node: `virtual_media` (the BMC's virtual CD) or `pxe` (network boot through iPXE from the deployment endpoint). Defaults to `virtual_media` over Redfish and `pxe` over IPMI, which has no virtual media. See the hosts guide."),
        attr("pxe_mac", Kind::String, Optional, "MAC address of the NIC the node network-boots from, for `pxe`. Defaults to a `port` marked `pxe` with a `mac`, then the NICs its BMC or a past in-band inspection reported."),
        computed("provision_state", Kind::String, "Lifecycle state: `available`, `active`, `clean_failed`…"),
        computed("power", Kind::String, "Power state, as the BMC reports it."),
        computed("health", Kind::String, "Health rollup, as the BMC reports it (`OK`, `Warning`, `Critical`)."),
        computed("manufacturer", Kind::String, "Manufacturer."),
        computed("model", Kind::String, "Model."),
        computed("serial", Kind::String, "Serial number."),
        computed("arch", Kind::String, "CPU architecture (`x86_64`, `aarch64`)."),
        computed("cpus", Number, "CPU threads."),
        computed("memory_gib", Number, "Memory."),
        computed("disk_gib", Number, "Total disk capacity."),
        computed("gpus", Number, "GPUs (processors of type `GPU`), never counted as CPUs."),
        computed("disks", StringList, "Drives, as `name: size GiB media`."),
        computed("macs", StringList, "MAC addresses of the NICs."),
        computed("firmware", StringMap, "Firmware versions by component."),
        computed("traits", StringList, "Traits flavors can ask for."),
    ],
    blocks: &[TIMEOUTS, BlockSpec {
        name: "port",
        max_one: false,
        description: "A NIC cabled to a switch port.",
        attrs: &[
            attr("mac", Kind::String, Optional, "The NIC's MAC address."),
            attr("switch", Kind::String, Required, "Name of the `baremetal_switch`."),
            attr("port", Kind::String, Required, "Switch port, as the switch names it (`Gi0/3`, `ge-0/0/3`, `Ethernet3`)."),
            attr("networks", StringList, Optional, "Networks (names of `baremetal_network`) on the port: one is an access port, several a trunk whose first is native."),
            attr("pxe", Bool, Optional, "Whether the node PXE-boots from this NIC."),
            attr("bond", Kind::String, Optional, "Bond group: the node's ports with the same bond form one port-channel on their switch (its mode from the profile's `network_connection`), and the networks go on the port-channel."),
        ],
        blocks: &[],
    }],
};

pub const FLAVOR: ResourceSpec = ResourceSpec {
    name: "baremetal_flavor",
    description: "A hardware class hosts are scheduled by.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Flavor name."),
        attr("cpus", Number, Optional, "Minimum CPU threads."),
        attr("memory_gib", Number, Optional, "Minimum memory."),
        attr("disk_gib", Number, Optional, "Minimum disk."),
        attr("arch", Kind::String, Optional, "`x86_64` or `aarch64`."),
        attr(
            "vendor",
            Kind::String,
            Optional,
            "Vendor (`dell`, `hpe`, `lenovo`, `supermicro`…).",
        ),
        attr("model", Kind::String, Optional, "Model, exactly."),
        attr(
            "traits",
            StringList,
            Optional,
            "Traits every matching node has.",
        ),
        attr(
            "gpus",
            Number,
            Optional,
            "Minimum GPUs (Redfish processors of type `GPU`, counted by inspection), of `gpu_model` when set.",
        ),
        attr(
            "gpu_model",
            Kind::String,
            Optional,
            "A GPU model every counted GPU names, case-insensitive (`A100`, `MI250X`).",
        ),
        computed(
            "matching_nodes",
            Number,
            "How many nodes of the inventory match the flavor.",
        ),
        computed(
            "available_nodes",
            Number,
            "How many of those are available: not in maintenance and not allocated.",
        ),
    ],
    blocks: &[],
};

pub const IMAGE: ResourceSpec = ResourceSpec {
    name: "baremetal_image",
    description: "A golden image: an operating system image the inventory knows by name, fetched once into the engine's image cache and served to every deploy agent. Hosts name it with `image`.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Image name."),
        secret("url", Required, "Where the image is fetched from (`http://` or `https://`). Sensitive: a URL may carry credentials or a signed token; the inventory keeps it masked, and seals one with credentials."),
        attr("checksum", Kind::String, Required, "The image's digest, `sha256:<hex>` or `sha512:<hex>`: verified as the engine fetches it, before any agent reads it. A new checksum rebuilds the hosts that deploy this image."),
        attr("format", Kind::String, Optional, "`raw`, `qcow2`, `raw.gz`, `raw.xz`, `raw.zst` or `iso`; unset: told from the URL's name, else from the image's first bytes."),
        attr("os_family", Kind::String, Optional, "A label for the operating system (`debian`, `ubuntu`, `rhel-9`…): lowercase letters, digits and `-`."),
        computed("size_bytes", Number, "The image's size, once the engine has fetched and verified it (unknown before its first deployment)."),
        computed("origin", Kind::String, "Where it came from: `uploaded`, or `captured from host H at generation N`."),
        computed("ref", Kind::String, "`NAME@CHECKSUM`: what a host's `image` takes to follow this image's checksum. Referenced (`image = baremetal_image.NAME.ref`), a new checksum shows as a rebuild of the hosts in the same plan."),
    ],
    blocks: &[],
};

pub const DEPLOYMENT_PLAN: ResourceSpec = ResourceSpec {
    name: "baremetal_deployment_plan",
    description: "A deployment plan: a named customisation of a golden image, a cloud-init user-data template (and hostname pattern) rendered per host from the host's attributes and free variables. Hosts name it with `deployment_plan`.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Deployment plan name."),
        attr("user_data", Kind::String, Required, "The cloud-init user-data template. `{{ NAME }}` is replaced per host: `host.name`, `host.hostname`, `host.project`, `host.profile`, `host.networks` (comma-separated), `host.ssh_keys` (a JSON list), `image.name`, `image.os_family`, `plan.name`, and `var.KEY` for each variable; `\\{{` is a literal `{{`. An unknown variable is an error at its line and column of the template."),
        attr("hostname", Kind::String, Optional, "The hostname pattern, a template too (`{{ host.name }}.prod.example.com`); unset: the host's name. It must render a hostname."),
        attr("variables", StringMap, Optional, "Free variables (`var.KEY`) with their defaults; a host's `plan_variables` override them."),
        AttrSpec {
            name: "secret_variables_wo",
            kind: StringMap,
            presence: Optional,
            sensitive: true,
            env: None,
            description: "Free variables whose values are secrets, write-only (Terraform 1.11 and later): sealed in the inventory, never in Terraform's plan or state, masked in the rendered diff. Bump `secret_variables_wo_version` to say they changed.",
            write_only: true,
            deprecated: false,
        },
        attr("secret_variables_wo_version", Number, Optional, "Bump it when `secret_variables_wo` changes: Terraform cannot see a write-only value change, and the plan's `ref` counts this version (never the secrets' values), so the hosts that use the plan are rebuilt."),
        computed("ref", Kind::String, "`NAME@sha256:…` of what renders: what a host's `deployment_plan` takes to follow this plan. Referenced, a change of the template shows as the rendered diff and a rebuild of the hosts that use it, in the same plan."),
    ],
    blocks: &[],
};

pub const HOST: ResourceSpec = ResourceSpec {
    name: "baremetal_host",
    description: "An operating system deployed on a node picked by flavor.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Host name."),
        attr(
            "flavor",
            Kind::String,
            Optional,
            "Flavor to schedule by. Changing it replaces the host.",
        ),
        attr(
            "node",
            Kind::String,
            Presence::OptionalComputed,
            "Node to pin; when only `flavor` is given, the node the scheduler picked. Changing it migrates the host in place: the old node goes into maintenance, the host (its profile, its image) moves to the new one.",
        ),
        computed(
            "project",
            Kind::String,
            "Project the host belongs to: the provider's.",
        ),
        computed("state", Kind::String, "Host state."),
        attr(
            "profile",
            Kind::String,
            Optional,
            "Profile applied to the node.",
        ),
        secret("image_url", Optional, "URL of the image to deploy (`http://` or `https://`), which the BMC's virtual media boots. Setting it deploys the host; changing it rebuilds the host in place on the same node. Sensitive: a URL may carry credentials or a signed token, so plans do not show it; the state keeps it as written, and the inventory seals a credentialed one."),
        attr(
            "image",
            Kind::String,
            Optional,
            "A golden image to deploy instead of an `image_url`: its URL, checksum and format are the image's. Write `baremetal_image.NAME.ref` (`NAME@CHECKSUM`): Terraform registers the image first, and a new checksum on the image shows as a rebuild of the host in the same plan (a new URL for the same checksum does not rebuild). A bare name (`baremetal_image.NAME.name`) deploys whatever checksum the image has when the host is next deployed.",
        ),
        attr(
            "deployment_plan",
            Kind::String,
            Optional,
            "A deployment plan (`baremetal_deployment_plan.NAME.ref`) whose template renders the host's user data; not with `user_data`. The plan shows the rendered user data's diff (sensitive variables masked), and a change rebuilds the host.",
        ),
        attr(
            "plan_variables",
            StringMap,
            Optional,
            "Values for the deployment plan's variables, for this host (each must be one of the plan's).",
        ),
        attr(
            "image_checksum",
            Kind::String,
            Presence::OptionalComputed,
            "The image's digest, `sha256:<hex>` or `sha512:<hex>`. The image is downloaded and checked before the node is touched; a mismatch fails with nothing changed. Required with `image_url`; with `image`, the image's checksum (computed).",
        ),
        attr("networks", StringList, Optional, "Networks (names of `baremetal_network`) the host's ports are put on once it is deployed, instead of the node's own. Also written to the config drive's network configuration."),
        computed("addresses", Kind::StringListMap, "Static addresses the inventory gave the host, by network (IPv4 and IPv6 of the network's `static` subnets): kept across rebuilds, released when the host is deleted."),
        write_only("user_data_wo", "cloud-init user data for the config drive, write-only: sealed in the inventory, never kept in Terraform's plan or state (Terraform 1.11 and later). A new text redeploys the host (seen by its digest, `user_data_sha256`)."),
        attr("user_data_wo_version", Number, Optional, "A version for `user_data_wo`, by Terraform's convention for write-only values. The host is redeployed when the user data itself changes, which `user_data_sha256` shows without keeping it; changing only the version redeploys nothing."),
        computed("user_data_sha256", Kind::String, "SHA-256 (hex) of the deployed user data, in either form: how a change of `user_data_wo` is seen at plan time without keeping it."),
        secret("user_data", Optional, "cloud-init user data for the config drive, passed through untouched. Kept sealed with the credentials key in the inventory, and in Terraform's state: prefer `user_data_wo`."),
        attr("ssh_keys", StringList, Optional, "SSH public keys, given to cloud-init as the instance's public keys."),
        attr("power", Kind::String, Optional, "`on` or `off`: the deployed host's power. Unset leaves it as the deployment did (on)."),
        attr("image_format", Kind::String, Optional, "The image's format, which picks the deploy path: `raw`, `qcow2`, `raw.gz`, `raw.xz` or `raw.zst` are written to the root disk by the deploy agent (booted by virtual media; the config drive becomes a partition); `iso` is an installer the BMC's virtual media boots. Unset: told from the URL's name (`.qcow2`, `.raw.zst`, `.iso`…), else from the image's first bytes when it is verified; an image neither tells is an error."),
        attr("wait", Kind::String, Presence::OptionalComputed, "How the deployment knows the installation finished: `power_off` (the installer powers the server off; the default), `boot_progress` (Redfish BootProgress reaches OSRunning) or `callback` (the installed system's cloud-init calls the deployment endpoint back). For an image the agent writes, `power_off` (the default) ends when the image is written and the server boots from its disk; `callback` waits further for the deployed system's first boot."),
        attr("rebuild", Kind::String, Optional, "A trigger: any change redeploys the image on the same node, in place."),
        attr("reboot", Kind::String, Optional, "A trigger: any change reboots the host."),
        attr("adopt", Bool, Optional, "Take over a server that already runs an operating system: the pinned `node` becomes an active host without a deployment. Cannot be combined with `image_url`."),
        computed("node_state", Kind::String, "The node's provision state (`active`, `deploying`, `clean failed`…)."),
        computed("generation", Number, "How many times the image was deployed on this host (1, then one more per rebuild)."),
        computed("health", Kind::String, "The node's health as its BMC reports it (`OK`, `Warning`, `Critical`), or `unreachable`; read only for hosts with a `failover` policy."),
    ],
    blocks: &[
        TIMEOUTS,
        BlockSpec {
            name: "root_device",
            max_one: true,
            description: "Which disk the deploy agent writes the image to, as Ironic's root device hints: every hint given must match. Without the block, the smallest disk of at least 4 GiB.",
            attrs: &[
                attr("name", Kind::String, Optional, "The kernel's name (`sda`, `/dev/nvme0n1`) or `disk/by-path/…`."),
                attr("serial", Kind::String, Optional, "The disk's serial number."),
                attr("size_gib", Number, Optional, "The disk's size in GiB, rounded down."),
                attr("rotational", Bool, Optional, "`true` for a spinning disk, `false` for flash."),
            ],
            blocks: &[],
        },
        BlockSpec {
            name: "address",
            max_one: false,
            description: "Pins a static address on one of the host's networks (one per network and family) instead of the next free one. Checked at plan time: inside a `static` subnet of the network, not its gateway or a reserved address, not another host's.",
            attrs: &[
                attr("network", Kind::String, Required, "The network's name."),
                attr("address", Kind::String, Required, "The address, IPv4 or IPv6, without a prefix."),
            ],
            blocks: &[],
        },
        BlockSpec {
            name: "failover",
            max_one: true,
            description: "Stateless computing: where the host goes when its node fails. When the node reports health Critical, or its BMC stays unreachable longer than `unreachable_after`, `terraform plan` shows the host moving to a standby node (its profile, and its image if it has one); apply moves it, and puts the failed node into maintenance.",
            attrs: &[
                attr("standby_nodes", StringList, Optional, "Standby nodes, in order of preference; the first free one is taken."),
                attr("standby_flavor", Kind::String, Optional, "A flavor whose best-fitting free node is taken when no standby node is free."),
                attr("unreachable_after", Kind::String, Optional, "How long the node's BMC may stay unreachable before the host moves (a duration; default `5m`)."),
            ],
            blocks: &[],
        },
    ],
};

pub const DATA_NODES: ResourceSpec = ResourceSpec {
    name: "baremetal_nodes",
    description: "Names of the inventory's nodes, filtered.",
    attrs: &[
        ID,
        attr(
            "state",
            Kind::String,
            Optional,
            "Only nodes in this provision state (`available`, `active`…).",
        ),
        attr(
            "flavor",
            Kind::String,
            Optional,
            "Only nodes matching this flavor.",
        ),
        attr(
            "project",
            Kind::String,
            Optional,
            "Only nodes whose host belongs to this project.",
        ),
        attr(
            "trait",
            Kind::String,
            Optional,
            "Only nodes with this trait.",
        ),
        computed("names", StringList, "The matching nodes' names, sorted."),
    ],
    blocks: &[],
};

pub const DATA_NODE: ResourceSpec = ResourceSpec {
    name: "baremetal_node",
    description: "One node of the inventory, found by name, serial number or MAC address.",
    attrs: &[
        ID,
        attr(
            "name",
            Kind::String,
            Presence::OptionalComputed,
            "Node name.",
        ),
        attr(
            "serial",
            Kind::String,
            Presence::OptionalComputed,
            "Serial number.",
        ),
        attr(
            "mac",
            Kind::String,
            Optional,
            "A MAC address of one of its NICs.",
        ),
        computed("bmc_url", Kind::String, "BMC base URL."),
        computed("system_id", Kind::String, "Redfish system id."),
        computed("provision_state", Kind::String, "Lifecycle state."),
        computed("maintenance", Bool, "Whether the node is in maintenance."),
        computed("power", Kind::String, "Power state at the last read."),
        computed("health", Kind::String, "Health at the last read."),
        computed("manufacturer", Kind::String, "Manufacturer."),
        computed("model", Kind::String, "Model."),
        computed("arch", Kind::String, "CPU architecture."),
        computed("cpus", Number, "CPU threads."),
        computed("memory_gib", Number, "Memory."),
        computed("disk_gib", Number, "Total disk capacity."),
        computed("gpus", Number, "GPUs (processors of type `GPU`)."),
        computed("macs", StringList, "MAC addresses of the NICs."),
        computed("traits", StringList, "Traits."),
        computed("rack", Kind::String, "Rack."),
        computed("host", Kind::String, "The host allocated on it, if any."),
        computed("profile", Kind::String, "The profile it takes on, if any."),
    ],
    blocks: &[],
};

pub const DATA_IMAGE: ResourceSpec = ResourceSpec {
    name: "baremetal_image",
    description: "A golden image of the inventory, found by name.",
    attrs: &[
        ID,
        attr("name", Kind::String, Required, "Image name."),
        secret(
            "url",
            Computed,
            "Where the image is fetched from, credentials masked.",
        ),
        computed("checksum", Kind::String, "The image's digest."),
        computed("format", Kind::String, "The image's format, when given."),
        computed(
            "os_family",
            Kind::String,
            "The operating system's label, when given.",
        ),
        computed("size_bytes", Number, "The image's size, once fetched."),
        computed(
            "origin",
            Kind::String,
            "`uploaded`, or `captured from host H at generation N`.",
        ),
        computed(
            "ref",
            Kind::String,
            "`NAME@CHECKSUM`, for a host's `image`.",
        ),
        computed(
            "hosts",
            StringList,
            "The hosts that deploy it (`project/name`).",
        ),
    ],
    blocks: &[],
};

pub const DATA_DRIFT: ResourceSpec = ResourceSpec {
    name: "baremetal_drift",
    description: "Per-node and per-port drift of a configuration directory against live BMC and switch state: the same report as `bmplan drift`, for pipelines that gate on it.",
    attrs: &[
        ID,
        attr("config_dir", Kind::String, Required, "The configuration directory to check (often `path.module`)."),
        attr("vars", StringMap, Optional, "Variable values for that configuration, as `-var` gives them."),
        computed("drifted", Bool, "Whether any node or port is drifted or unreachable."),
        computed("summary", Kind::String, "One line for the change ticket."),
        computed("in_sync", Number, "How many nodes and ports are in sync."),
        computed("drifted_nodes", StringList, "Nodes that are drifted."),
        computed("drifted_ports", StringList, "Switch ports that are drifted, as `switch port`."),
        computed("unreachable", StringList, "Devices that could not be read."),
        computed("report_json", Kind::String, "The whole report as JSON (`bmplan drift --format json`)."),
        computed("report_markdown", Kind::String, "The whole report as Markdown."),
    ],
    blocks: &[],
};

/// Every data source, for the provider and the docs.
pub const DATA_SOURCES: &[ResourceSpec] = &[DATA_NODES, DATA_NODE, DATA_IMAGE, DATA_DRIFT];

/// `list "baremetal_node"` (Terraform 1.14 and later): the inventory's nodes, for `terraform
/// query` to find and import the ones a configuration does not hold yet.
pub const LIST_NODE: ResourceSpec = ResourceSpec {
    name: "baremetal_node",
    description: "The inventory's nodes, filtered: `terraform query -generate-config-out=…` writes a `baremetal_node` block and an `import` block for each.",
    attrs: &[
        attr(
            "state",
            Kind::String,
            Optional,
            "Only nodes in this provision state (`available`, `active`, `manageable`…).",
        ),
        attr(
            "flavor",
            Kind::String,
            Optional,
            "Only nodes matching this flavor.",
        ),
        attr("rack", Kind::String, Optional, "Only nodes in this rack."),
        attr(
            "project",
            Kind::String,
            Optional,
            "Only nodes owned by this project or whose host belongs to it.",
        ),
        attr(
            "managed",
            Kind::Bool,
            Optional,
            "`true`: only nodes taken under management (verified: `manageable` or later); `false`: only those still being enrolled (`enroll`, `verifying`, `verify failed`).",
        ),
    ],
    blocks: &[],
};

/// `list "baremetal_host"`: the hosts of the provider's project.
pub const LIST_HOST: ResourceSpec = ResourceSpec {
    name: "baremetal_host",
    description: "The hosts of the provider's project, filtered: `terraform query -generate-config-out=…` writes a `baremetal_host` block and an `import` block for each.",
    attrs: &[
        attr(
            "state",
            Kind::String,
            Optional,
            "Only hosts in this state (`allocated`, `active`, `deploy failed`…).",
        ),
        attr(
            "flavor",
            Kind::String,
            Optional,
            "Only hosts scheduled by this flavor.",
        ),
        attr("node", Kind::String, Optional, "Only the host on this node."),
    ],
    blocks: &[],
};

/// Every list resource (each lists the managed resource type of its name).
pub const LIST_RESOURCES: &[ResourceSpec] = &[LIST_NODE, LIST_HOST];

/// `action "baremetal_power"` (Terraform 1.14 and later).
pub const ACTION_POWER: ResourceSpec = ResourceSpec {
    name: "baremetal_power",
    description: "Powers a node on or off, power-cycles it, or reboots it (a graceful restart, forced if the system does not stop), and waits until it is done. Refused for a node in maintenance or held by a lease.",
    attrs: &[
        attr("node", Kind::String, Required, "The node's name."),
        attr(
            "power",
            Kind::String,
            Required,
            "`on`, `off` (graceful, then forced), `cycle` (off, then on) or `reboot`.",
        ),
        attr(
            "timeout",
            Kind::String,
            Optional,
            "How long it may take (a duration: `5m`). Default: the provider's `default_timeout`.",
        ),
    ],
    blocks: &[],
};

/// `action "baremetal_firmware_update"` (Terraform 1.14 and later).
pub const ACTION_FIRMWARE_UPDATE: ResourceSpec = ResourceSpec {
    name: "baremetal_firmware_update",
    description: "Updates a node's firmware from an image (Redfish `SimpleUpdate`) and follows the BMC's task to its end: a failed task fails the action with the BMC's messages. For firmware a profile pins (and keeps), use the profile's `firmware` block; this is for one-off updates. Refused for a node in maintenance or held by a lease.",
    attrs: &[
        attr("node", Kind::String, Required, "The node's name."),
        secret(
            "image_url",
            Required,
            "Where the BMC fetches the image (`http://` or `https://`). Sensitive: plans do not show it, and errors show it with its credentials masked.",
        ),
        attr(
            "targets",
            Kind::StringList,
            Optional,
            "The firmware inventory entries to update (`/redfish/v1/UpdateService/FirmwareInventory/…`). Default: those the BMC picks for the image.",
        ),
        attr(
            "apply_time",
            Kind::String,
            Optional,
            "`immediate` (the default) or `on_reset`: staged until the node's next reset.",
        ),
        attr(
            "timeout",
            Kind::String,
            Optional,
            "How long it may take (a duration: `30m`). Default: the provider's `default_timeout`.",
        ),
    ],
    blocks: &[],
};

/// `action "baremetal_bmc_reset"` (Terraform 1.14 and later).
pub const ACTION_BMC_RESET: ResourceSpec = ResourceSpec {
    name: "baremetal_bmc_reset",
    description: "Restarts a node's BMC (Redfish `Manager.Reset`, graceful where the BMC offers it) and waits until it answers again; the server keeps running. Refused for a node in maintenance or held by a lease.",
    attrs: &[
        attr("node", Kind::String, Required, "The node's name."),
        attr(
            "timeout",
            Kind::String,
            Optional,
            "How long it may take, the BMC's restart included (a duration: `10m`). Default: the provider's `default_timeout`.",
        ),
    ],
    blocks: &[],
};

/// `action "baremetal_image_capture"` (Terraform 1.14 and later).
pub const ACTION_IMAGE_CAPTURE: ResourceSpec = ResourceSpec {
    name: "baremetal_image_capture",
    description: "Captures an active host into a new golden image (`baremetal_image`, origin `captured from host H at generation N`): the host is shut down, the deploy agent generalises a copy-on-write snapshot of its disk (machine-id, SSH host keys, cloud-init state, persistent network rules, logs; then `script`) and streams it zstd-compressed into the engine's image store, and the host boots its OS again, unchanged (its disk is only read). Refused for a host that is not active, and for a name an image has. Hosts then deploy it by name (`image`), or through the `baremetal_image` data source.",
    attrs: &[
        attr("host", Kind::String, Required, "The host to capture (active)."),
        attr("name", Kind::String, Required, "The new image's name."),
        attr("project", Kind::String, Optional, "The host's project. Default: the provider's."),
        attr("script", Kind::String, Optional, "A shell script run (by `/bin/sh -c`, chrooted) in the generalised snapshot after the standard steps: what a site removes besides them. A script that fails fails the capture; the host's disk is unchanged either way."),
        attr("os_family", Kind::String, Optional, "The image's OS family. Default: the captured system's os-release `ID`."),
        attr("level", Number, Optional, "The zstd level, 1 to 19. Default: 3."),
        attr("shutdown_timeout", Kind::String, Optional, "How long the OS has to shut down (ACPI, through the BMC) before the power is cut (a duration: `2m`). Default: `5m`."),
        attr(
            "timeout",
            Kind::String,
            Optional,
            "How long it may take, the shutdown and the boot back included (a duration: `30m`). Default: the provider's `default_timeout`.",
        ),
    ],
    blocks: &[],
};

/// Every action.
pub const ACTIONS: &[ResourceSpec] = &[
    ACTION_POWER,
    ACTION_FIRMWARE_UPDATE,
    ACTION_BMC_RESET,
    ACTION_IMAGE_CAPTURE,
];

/// `ephemeral "baremetal_bmc_session"` (Terraform 1.10 and later).
pub const EPHEMERAL_BMC_SESSION: ResourceSpec = ResourceSpec {
    name: "baremetal_bmc_session",
    description: "A Redfish session on a node's BMC, opened with the node's sealed credentials for the length of one Terraform run and closed at its end: its token goes to what needs one (a provider's or a provisioner's configuration, a write-only attribute) without ever entering a plan or state.",
    attrs: &[
        attr("node", Kind::String, Required, "The node's name."),
        computed(
            "url",
            Kind::String,
            "The BMC's base URL (the origin the token belongs to).",
        ),
        secret(
            "token",
            Computed,
            "The session's `X-Auth-Token`: send it only to `url`.",
        ),
        computed(
            "session_uri",
            Kind::String,
            "The session's resource on the BMC (deleted when the run ends).",
        ),
    ],
    blocks: &[],
};

/// Every ephemeral resource.
pub const EPHEMERAL_RESOURCES: &[ResourceSpec] = &[EPHEMERAL_BMC_SESSION];

/// Every resource type, for the loader and the provider.
pub const RESOURCES: &[ResourceSpec] = &[
    SWITCH,
    NETWORK,
    PROFILE,
    NODE,
    FLAVOR,
    IMAGE,
    DEPLOYMENT_PLAN,
    HOST,
];

pub fn resource(name: &str) -> Option<&'static ResourceSpec> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// Provider settings as written in configuration (environment fallbacks not applied yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSettings {
    pub inventory: Option<String>,
    pub project: Option<String>,
    pub role: Option<String>,
    pub credentials_key: Option<String>,
    pub credentials_key_file: Option<String>,
    pub ca_cert: Option<String>,
    pub insecure: Option<bool>,
    pub max_parallel: Option<i64>,
    pub default_timeout: Option<String>,
    pub media_listen: Option<String>,
    pub media_url: Option<String>,
}

/// A problem with one attribute: its name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrProblem {
    pub attribute: &'static str,
    pub summary: String,
    pub detail: String,
}

/// Checks provider settings that are known at validation time.
pub fn validate_provider(s: &ProviderSettings) -> Vec<AttrProblem> {
    let mut out = Vec::new();
    if let Some(role) = &s.role {
        if role != "admin" && role != "member" {
            out.push(AttrProblem {
                attribute: "role",
                summary: "Unknown role".into(),
                detail: format!("role is {role:?}; it must be \"admin\" or \"member\"."),
            });
        }
    }
    if let Some(n) = s.max_parallel {
        if n < 1 || n as u64 > crate::rules::MAX_PARALLEL {
            out.push(AttrProblem {
                attribute: "max_parallel",
                summary: format!(
                    "max_parallel must be a whole number from 1 to {}",
                    crate::rules::MAX_PARALLEL
                ),
                detail: format!(
                    "max_parallel is {n}; set it to the number of nodes a wave may change at once."
                ),
            });
        }
    }
    for (attribute, path) in [
        ("ca_cert", &s.ca_cert),
        ("credentials_key_file", &s.credentials_key_file),
    ] {
        if let Some(Err(detail)) = path.as_deref().map(crate::rules::file_ok) {
            out.push(AttrProblem {
                attribute,
                summary: "No such file".into(),
                detail: detail.into(),
            });
        }
    }
    if s.insecure == Some(true) && s.ca_cert.is_some() {
        out.push(AttrProblem {
            attribute: "insecure",
            summary: "insecure and ca_cert contradict each other".into(),
            detail: "ca_cert asks for verification against a CA bundle, insecure turns verification off. Keep one.".into(),
        });
    }
    if s.credentials_key.is_some() && s.credentials_key_file.is_some() {
        out.push(AttrProblem {
            attribute: "credentials_key_file",
            summary: "Two credentials keys".into(),
            detail: "Set either credentials_key or credentials_key_file, not both.".into(),
        });
    }
    if let Some(t) = &s.default_timeout {
        if let Err(e) = parse_duration(t) {
            out.push(AttrProblem {
                attribute: "default_timeout",
                summary: "Invalid duration".into(),
                detail: e.into(),
            });
        }
    }
    out
}

/// Parses a duration such as `90s`, `20m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, crate::rules::Invalid> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(crate::rules::Invalid(format!(
                    "{s:?} is not a duration: unexpected {c:?} (use h, m and s, as in 1h30m)"
                )))
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration: a number must precede {c:?}"))?;
        total += n * unit;
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(crate::rules::Invalid(format!(
            "{s:?} is not a duration: end it with a unit (h, m or s), as in 30m"
        )));
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_bare_numbers() {
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("45s").unwrap().as_secs(), 45);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn provider_validation_names_the_attribute() {
        let s = ProviderSettings {
            role: Some("root".into()),
            max_parallel: Some(0),
            insecure: Some(true),
            ca_cert: Some("ca.pem".into()),
            ..Default::default()
        };
        let attrs: Vec<&str> = validate_provider(&s).iter().map(|p| p.attribute).collect();
        assert_eq!(attrs, ["role", "max_parallel", "ca_cert", "insecure"]);
        assert!(validate_provider(&ProviderSettings::default()).is_empty());
    }

    #[test]
    fn every_provider_attribute_has_an_environment_fallback_and_a_description() {
        for a in PROVIDER {
            assert!(
                a.env.is_some_and(|e| e.starts_with("BAREMETAL_")),
                "{}",
                a.name
            );
            assert!(a.description.len() > 20, "{}", a.name);
        }
    }
}
