//! What a cgroup's path says of what runs in it: the container runtime
//! and the container's id, the Kubernetes pod's uid, or the systemd unit
//! of a host service. A pure function of the path, so every layout is a
//! unit test; anything that does not have the exact shape of a known
//! layout says nothing (never a guess).

/// The container runtime a cgroup's name points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Containerd,
    Crio,
    Docker,
    Podman,
    /// Kubelet's cgroupfs driver names a container's cgroup by its bare
    /// id, whatever the runtime.
    Unknown,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Unknown => "unknown",
        }
    }
}

/// What a cgroup path says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PathInfo {
    pub runtime: Option<Runtime>,
    /// 64 lowercase hex digits.
    pub container_id: Option<String>,
    /// As kubelet writes it in /var/log/pods: dashes, not underscores.
    pub pod_uid: Option<String>,
    /// `foo.service`: the unit of a host process, outside any container.
    pub unit: Option<String>,
}

impl PathInfo {
    pub fn is_empty(&self) -> bool {
        self.container_id.is_none() && self.pod_uid.is_none() && self.unit.is_none()
    }
}

/// A container id as runtimes make them: 64 lowercase hex digits.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A pod uid: a UUID (`sep` between its groups: `-` in cgroupfs paths and
/// /var/log/pods, `_` in systemd slice names), or a static pod's 32 hex
/// digits (kubelet's hash of its manifest). Returned with dashes.
fn pod_uid(s: &str, sep: u8) -> Option<String> {
    let hex = |b: &u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
    let bytes = s.as_bytes();
    if bytes.len() == 32 && bytes.iter().all(hex) {
        return Some(s.to_string());
    }
    if bytes.len() != 36 {
        return None;
    }
    for (i, b) in bytes.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *b == sep
        } else {
            hex(b)
        };
        if !ok {
            return None;
        }
    }
    Some(s.replace(sep as char, "-"))
}

/// `prefix<id>suffix` with a container id in the middle.
fn id_between<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    is_container_id(id).then_some(id)
}

/// The container a single path component names, with its runtime.
fn container_of(name: &str) -> Option<(Runtime, &str)> {
    const SCOPES: [(&str, Runtime); 4] = [
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::Crio),
        ("docker-", Runtime::Docker),
        ("libpod-", Runtime::Podman),
    ];
    SCOPES
        .iter()
        .find_map(|(prefix, rt)| id_between(name, prefix, ".scope").map(|id| (*rt, id)))
}

/// The pod uid of kubelet's systemd slice `kubepods[-<qos>]-pod<uid>.slice`.
fn systemd_pod(name: &str) -> Option<String> {
    let rest = name.strip_prefix("kubepods-")?.strip_suffix(".slice")?;
    let rest = rest
        .strip_prefix("besteffort-")
        .or_else(|| rest.strip_prefix("burstable-"))
        .unwrap_or(rest);
    pod_uid(rest.strip_prefix("pod")?, b'_')
}

/// Reads a cgroup path (as in /proc/PID/cgroup, or relative to a cgroup
/// mount). Layouts:
///
/// - systemd scopes: `cri-containerd-<id>.scope`, `crio-<id>.scope`,
///   `docker-<id>.scope`, `libpod-<id>.scope`, anywhere;
/// - Docker's cgroupfs driver `/docker/<id>`, podman's
///   `/libpod_parent/libpod-<id>`;
/// - kubelet: cgroupfs `kubepods[/<qos>]/pod<uid>/<id>`, systemd
///   `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/<scope>`;
/// - a host service: the deepest `*.service` or `*.scope` outside
///   kubepods and any container.
pub fn parse(path: &str) -> PathInfo {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut info = PathInfo::default();
    let mut in_kubepods = false;
    for (i, part) in parts.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| parts[p]);
        if *part == "kubepods" || *part == "kubepods.slice" {
            in_kubepods = true;
        }
        if let Some(uid) = systemd_pod(part) {
            if parent.is_some_and(|p| p.starts_with("kubepods")) {
                info.pod_uid = Some(uid);
                continue;
            }
        }
        // kubepods/pod<uid> or kubepods/<qos>/pod<uid> (cgroupfs driver).
        if let Some(uid) = part.strip_prefix("pod").and_then(|u| pod_uid(u, b'-')) {
            let under = match parent {
                Some("kubepods") => true,
                Some("besteffort" | "burstable") => i >= 2 && parts[i - 2] == "kubepods",
                _ => false,
            };
            if under {
                info.pod_uid = Some(uid);
                continue;
            }
        }
        let found = container_of(part).or_else(|| match parent {
            Some("docker") if is_container_id(part) => Some((Runtime::Docker, *part)),
            Some("libpod_parent") => {
                id_between(part, "libpod-", "").map(|id| (Runtime::Podman, id))
            }
            // The cgroupfs driver: the container's bare id in its pod's.
            Some(p) if info.pod_uid.is_some() && p.starts_with("pod") && is_container_id(part) => {
                Some((Runtime::Unknown, *part))
            }
            _ => None,
        });
        if let Some((runtime, id)) = found {
            info.runtime = Some(runtime);
            info.container_id = Some(id.to_string());
            // Whatever a container's own tree holds is the container.
            break;
        }
        let printable = !part.chars().any(char::is_control);
        if !in_kubepods && printable && (part.ends_with(".service") || part.ends_with(".scope")) {
            info.unit = Some(part.to_string());
        }
    }
    if info.container_id.is_some() || info.pod_uid.is_some() {
        info.unit = None;
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f2a0c1e9b8d7f6a5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d";
    const UID: &str = "3b0e6c1d-2f4a-4e5b-9c8d-7a6b5c4d3e2f";

    fn info(runtime: Option<Runtime>, id: Option<&str>, uid: Option<&str>) -> PathInfo {
        PathInfo {
            runtime,
            container_id: id.map(String::from),
            pod_uid: uid.map(String::from),
            unit: None,
        }
    }

    #[test]
    fn kubelet_systemd_driver() {
        let uid_ = UID.replace('-', "_");
        for (scope, rt) in [
            (format!("cri-containerd-{ID}.scope"), Runtime::Containerd),
            (format!("crio-{ID}.scope"), Runtime::Crio),
            (format!("docker-{ID}.scope"), Runtime::Docker),
        ] {
            for qos in ["besteffort", "burstable"] {
                let p = format!(
                    "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice/{scope}"
                );
                assert_eq!(parse(&p), info(Some(rt), Some(ID), Some(UID)), "{p}");
            }
            // Guaranteed pods have no QoS level.
            let p = format!("/kubepods.slice/kubepods-pod{uid_}.slice/{scope}");
            assert_eq!(parse(&p), info(Some(rt), Some(ID), Some(UID)), "{p}");
        }
        // The pod's own slice: the pod, no container.
        let p = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice"
        );
        assert_eq!(parse(&p), info(None, None, Some(UID)));
    }

    #[test]
    fn kubelet_cgroupfs_driver() {
        for p in [
            format!("/kubepods/besteffort/pod{UID}/{ID}"),
            format!("/kubepods/burstable/pod{UID}/{ID}"),
            format!("/kubepods/pod{UID}/{ID}"),
        ] {
            assert_eq!(
                parse(&p),
                info(Some(Runtime::Unknown), Some(ID), Some(UID)),
                "{p}"
            );
        }
        assert_eq!(
            parse(&format!("/kubepods/besteffort/pod{UID}")),
            info(None, None, Some(UID))
        );
        // A static pod's uid is its manifest's hash.
        let hash = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse(&format!("/kubepods/burstable/pod{hash}/{ID}"))
                .pod_uid
                .as_deref(),
            Some(hash)
        );
    }

    #[test]
    fn runtimes_outside_kubernetes() {
        assert_eq!(
            parse(&format!("/system.slice/docker-{ID}.scope")),
            info(Some(Runtime::Docker), Some(ID), None)
        );
        assert_eq!(
            parse(&format!("/docker/{ID}")),
            info(Some(Runtime::Docker), Some(ID), None)
        );
        assert_eq!(
            parse(&format!("/machine.slice/libpod-{ID}.scope")),
            info(Some(Runtime::Podman), Some(ID), None)
        );
        assert_eq!(
            parse(&format!("/libpod_parent/libpod-{ID}")),
            info(Some(Runtime::Podman), Some(ID), None)
        );
        // What runs inside a container's tree (systemd in it, a nested
        // cgroup) is that container.
        assert_eq!(
            parse(&format!(
                "/machine.slice/libpod-{ID}.scope/container/init.scope"
            )),
            info(Some(Runtime::Podman), Some(ID), None)
        );
    }

    #[test]
    fn host_services() {
        let unit = |p: &str| parse(p).unit;
        assert_eq!(
            unit("/system.slice/nginx.service").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit("/system.slice/containerd.service/sub").as_deref(),
            Some("containerd.service")
        );
        assert_eq!(
            unit("/user.slice/user-1000.slice/session-3.scope").as_deref(),
            Some("session-3.scope")
        );
        assert_eq!(unit("/init.scope").as_deref(), Some("init.scope"));
        assert!(parse("/").is_empty());
        assert!(parse("").is_empty());
        assert!(parse("/system.slice").is_empty());
        // Nothing in kubepods is a host service, and a container is not
        // its unit.
        assert_eq!(
            parse(&format!("/system.slice/docker-{ID}.scope")).unit,
            None
        );
        assert!(parse("/kubepods.slice/kubepods-besteffort.slice/x.scope").is_empty());
        // A name the terminal would obey is no name to show.
        assert!(parse("/system.slice/\u{1b}]0;pwned\u{7}.service").is_empty());
    }

    #[test]
    fn odd_and_hostile_paths_say_nothing() {
        let short = &ID[..63];
        let upper = ID.to_uppercase();
        for p in [
            format!("/docker-{short}.scope"),
            format!("/docker-{ID}a.scope"),
            format!("/docker-{upper}.scope"),
            format!("/docker-{ID}.scopex"),
            format!("/docker-{ID}"),
            format!("/system.slice/{ID}"),
            format!("/kubepods/besteffort/pod{UID}x/{ID}"),
            format!("/notkubepods/besteffort/pod{UID}/{ID}"),
            format!("/kubepods/guaranteed/pod{UID}/{ID}"),
            format!("/kubepods.slice/kubepods-pod{UID}.slice"),
            format!("/kubepods-besteffort-pod{}.slice", UID.replace('-', "_")),
            "/kubepods/besteffort/pod../..".to_string(),
            "/docker/../../etc".to_string(),
            "/libpod_parent/libpod-".to_string(),
            "/process_api/0bc769cc67357ee17290e3584c67605e".to_string(),
            "/\u{1b}[31m/\0/".to_string(),
            "////".to_string(),
            "/kubepods/podé/".to_string(),
        ] {
            let i = parse(&p);
            assert_eq!((i.container_id, i.pod_uid), (None, None), "{p:?}");
        }
        // A uid with its groups in the wrong places is none.
        assert_eq!(pod_uid("3b0e6c1d2-f4a-4e5b-9c8d-7a6b5c4d3e2f", b'-'), None);
        assert_eq!(pod_uid(&UID.replace('-', "_"), b'-'), None);
    }
}
