//! Names without the API server: what kubelet and the container runtimes
//! leave on the node's disk. All of it is read, never written, under a
//! root that tests (and a DaemonSet mounting the host at /host) choose.
//!
//! - kubelet's logs: `/var/log/pods/<namespace>_<pod>_<uid>/<container>/`
//!   names the pod of a uid, and `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`
//!   (a link into the former) the container of an id;
//! - the runtimes' state, by container id: containerd's bundle
//!   `config.json` (annotations `io.kubernetes.cri.*`), CRI-O's and
//!   podman's `userdata/config.json` (annotations `io.kubernetes.*`) and
//!   podman's `containers.json` (its names), Docker's `config.v2.json`
//!   (`Name`, and kubelet's labels).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::path::is_container_id;

/// What the node's files say of a container or a pod. Each field only
/// when a file says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub container: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    pub pod_uid: Option<String>,
}

impl Names {
    /// Fills what `self` lacks from `other`.
    pub fn or(mut self, other: Names) -> Names {
        self.container = self.container.or(other.container);
        self.pod = self.pod.or(other.pod);
        self.namespace = self.namespace.or(other.namespace);
        self.pod_uid = self.pod_uid.or(other.pod_uid);
        self
    }
}

/// A name kubelet or a runtime wrote: printable, without `/`, and of a
/// sane length; anything else is not shown.
fn clean(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= 253 && s.chars().all(|c| !c.is_control() && c != '/');
    ok.then(|| s.to_string())
}

/// The biggest state file read (a container's OCI spec is some 10-30 kB).
const MAX_STATE_BYTES: u64 = 4 << 20;

fn read_json(path: &Path) -> Option<Value> {
    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() > MAX_STATE_BYTES {
        return None;
    }
    serde_json::from_reader(std::io::BufReader::new(file)).ok()
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Kubernetes' names in a map of annotations or labels: kubelet's labels
/// (`io.kubernetes.container.name`, `io.kubernetes.pod.*`, as CRI-O and
/// cri-dockerd write them) or containerd's CRI annotations.
fn kube_names(map: &Value) -> Names {
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .and_then(clean)
    };
    Names {
        container: get(&[
            "io.kubernetes.cri.container-name",
            "io.kubernetes.container.name",
        ]),
        pod: get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
        namespace: get(&[
            "io.kubernetes.cri.sandbox-namespace",
            "io.kubernetes.pod.namespace",
        ]),
        pod_uid: get(&["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]),
    }
}

/// The node's files, under `root` (`/` on the host).
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub root: PathBuf,
}

impl NodeFiles {
    pub fn new(root: impl Into<PathBuf>) -> NodeFiles {
        NodeFiles { root: root.into() }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// What the runtimes' state says of container `id`: each runtime's
    /// file for that id, read directly (no listing).
    pub fn container(&self, id: &str) -> Names {
        if !is_container_id(id) {
            return Names::default();
        }
        let mut names = Names::default();
        // containerd: a bundle per namespace (k8s.io, moby, default, ...).
        if let Ok(dirs) = std::fs::read_dir(self.at("run/containerd/io.containerd.runtime.v2.task"))
        {
            for ns in dirs.flatten() {
                if let Some(spec) = read_json(&ns.path().join(id).join("config.json")) {
                    if let Some(ann) = spec.get("annotations") {
                        names = names.or(kube_names(ann));
                        if let Some(n) = ann.get("nerdctl/name").and_then(Value::as_str) {
                            names = names.or(Names {
                                container: clean(n),
                                ..Names::default()
                            });
                        }
                    }
                }
            }
        }
        // CRI-O and podman (containers/storage), in /run and /var/lib.
        for store in [
            "run/containers/storage/overlay-containers",
            "var/lib/containers/storage/overlay-containers",
        ] {
            let spec = read_json(&self.at(store).join(id).join("userdata/config.json"));
            if let Some(ann) = spec.as_ref().and_then(|s| s.get("annotations")) {
                names = names.or(kube_names(ann));
            }
        }
        // Docker.
        if let Some(cfg) = read_json(
            &self
                .at("var/lib/docker/containers")
                .join(id)
                .join("config.v2.json"),
        ) {
            if let Some(labels) = cfg.get("Config").and_then(|c| c.get("Labels")) {
                names = names.or(kube_names(labels));
            }
            if names.pod.is_none() {
                let name = str_at(&cfg, &["Name"]).map(|n| n.trim_start_matches('/'));
                names = names.or(Names {
                    container: name.and_then(clean),
                    ..Names::default()
                });
            }
        }
        names
    }

    /// Podman's (and Buildah's) list of containers: id → its first name.
    pub fn storage_names(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for store in [
            "var/lib/containers/storage/overlay-containers/containers.json",
            "run/containers/storage/overlay-containers/containers.json",
        ] {
            let Some(Value::Array(list)) = read_json(&self.at(store)) else {
                continue;
            };
            for c in &list {
                let id = c.get("id").and_then(Value::as_str);
                let name = c
                    .get("names")
                    .and_then(|n| n.get(0))
                    .and_then(Value::as_str)
                    .and_then(clean);
                if let (Some(id), Some(name)) = (id, name) {
                    if is_container_id(id) {
                        out.insert(id.to_string(), name);
                    }
                }
            }
        }
        out
    }

    /// kubelet's pod log directories: uid → (namespace, pod).
    pub fn pods(&self) -> HashMap<String, (String, String)> {
        let mut out = HashMap::new();
        let Ok(dirs) = std::fs::read_dir(self.at("var/log/pods")) else {
            return out;
        };
        for d in dirs.flatten() {
            let name = d.file_name();
            let Some(name) = name.to_str() else { continue };
            // Namespaces and pod names are DNS names: no `_` in them.
            let parts: Vec<&str> = name.split('_').collect();
            if let [ns, pod, uid] = parts[..] {
                if let (Some(ns), Some(pod), Some(uid)) = (clean(ns), clean(pod), clean(uid)) {
                    out.insert(uid, (ns, pod));
                }
            }
        }
        out
    }

    /// kubelet's links `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`:
    /// id → (namespace, pod, container).
    pub fn container_logs(&self) -> HashMap<String, (String, String, String)> {
        let mut out = HashMap::new();
        let Ok(files) = std::fs::read_dir(self.at("var/log/containers")) else {
            return out;
        };
        for f in files.flatten() {
            let name = f.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
                continue;
            };
            let parts: Vec<&str> = stem.split('_').collect();
            let [pod, ns, rest] = parts[..] else { continue };
            // A container's name may hold `-`; its id is the last 64.
            let Some((container, id)) = rest.rsplit_once('-') else {
                continue;
            };
            if !is_container_id(id) {
                continue;
            }
            if let (Some(ns), Some(pod), Some(c)) = (clean(ns), clean(pod), clean(container)) {
                out.insert(id.to_string(), (ns, pod, c));
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    const ID: &str = "4f2a0c1e9b8d7f6a5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d";
    const UID: &str = "3b0e6c1d-2f4a-4e5b-9c8d-7a6b5c4d3e2f";

    /// A temporary directory, removed when dropped.
    pub(crate) struct TempRoot(pub PathBuf);

    impl TempRoot {
        pub(crate) fn new(tag: &str) -> TempRoot {
            let p = std::env::temp_dir().join(format!(
                "dnstrace-attr-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempRoot(p)
        }

        pub(crate) fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn kubelet_logs() {
        let root = TempRoot::new("logs");
        root.write(&format!("var/log/pods/shop_web-7d9f_{UID}/nginx/0.log"), "");
        root.write(
            &format!("var/log/pods/shop_web-7d9f_{UID}/sidecar/0.log"),
            "",
        );
        // Not kubelet's shape: ignored.
        root.write("var/log/pods/a_b/x/0.log", "");
        root.write("var/log/pods/a_b_c_d/x/0.log", "");
        root.write("var/log/pods/_b_c/x/0.log", "");
        root.write(
            &format!("var/log/containers/web-7d9f_shop_nginx-side-{ID}.log"),
            "",
        );
        root.write("var/log/containers/web_shop_nginx-1234.log", "");
        root.write("var/log/containers/garbage.log", "");
        let files = NodeFiles::new(&root.0);
        let pods = files.pods();
        assert_eq!(pods.len(), 1, "{pods:?}");
        assert_eq!(pods[UID], ("shop".to_string(), "web-7d9f".to_string()));
        let logs = files.container_logs();
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(
            logs[ID],
            ("shop".into(), "web-7d9f".into(), "nginx-side".into())
        );
        // Nothing there at all.
        let empty = NodeFiles::new(root.0.join("nowhere"));
        assert!(empty.pods().is_empty() && empty.container_logs().is_empty());
    }

    #[test]
    fn runtime_state() {
        let root = TempRoot::new("state");
        let files = NodeFiles::new(&root.0);
        assert_eq!(files.container(ID), Names::default());
        root.write(
            &format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}/config.json"),
            &format!(
                r#"{{"ociVersion":"1.1.0","annotations":{{
                    "io.kubernetes.cri.container-type":"container",
                    "io.kubernetes.cri.container-name":"coredns",
                    "io.kubernetes.cri.sandbox-name":"coredns-5d78c9869d-abcde",
                    "io.kubernetes.cri.sandbox-namespace":"kube-system",
                    "io.kubernetes.cri.sandbox-uid":"{UID}"}}}}"#
            ),
        );
        assert_eq!(
            files.container(ID),
            Names {
                container: Some("coredns".into()),
                pod: Some("coredns-5d78c9869d-abcde".into()),
                namespace: Some("kube-system".into()),
                pod_uid: Some(UID.into()),
            }
        );

        let other = "a".repeat(64);
        root.write(
            &format!("run/containers/storage/overlay-containers/{other}/userdata/config.json"),
            r#"{"annotations":{"io.kubernetes.container.name":"app",
                "io.kubernetes.pod.name":"api-0","io.kubernetes.pod.namespace":"prod"}}"#,
        );
        let n = files.container(&other);
        assert_eq!(n.container.as_deref(), Some("app"));
        assert_eq!(n.namespace.as_deref(), Some("prod"));
        assert_eq!(n.pod_uid, None);

        let docker = "b".repeat(64);
        root.write(
            &format!("var/lib/docker/containers/{docker}/config.v2.json"),
            r#"{"ID":"x","Name":"/redis","Config":{"Labels":{"a":"b"}}}"#,
        );
        assert_eq!(files.container(&docker).container.as_deref(), Some("redis"));
        // Docker under kubelet: the labels win over Docker's own name.
        let k8s = "c".repeat(64);
        root.write(
            &format!("var/lib/docker/containers/{k8s}/config.v2.json"),
            r#"{"Name":"/k8s_app_api-0_prod_uid_0","Config":{"Labels":{
                "io.kubernetes.container.name":"app","io.kubernetes.pod.name":"api-0",
                "io.kubernetes.pod.namespace":"prod"}}}"#,
        );
        assert_eq!(files.container(&k8s).container.as_deref(), Some("app"));

        root.write(
            "var/lib/containers/storage/overlay-containers/containers.json",
            &format!(
                r#"[{{"id":"{other}","names":["web"]}},{{"id":"short","names":["x"]}},
                    {{"id":"{docker}","names":[]}}]"#
            ),
        );
        let names = files.storage_names();
        assert_eq!(names.len(), 1);
        assert_eq!(names[&other], "web");
    }

    #[test]
    fn hostile_state_is_not_shown() {
        let root = TempRoot::new("hostile");
        let files = NodeFiles::new(&root.0);
        let id = "d".repeat(64);
        root.write(
            &format!("var/lib/docker/containers/{id}/config.v2.json"),
            "{\"Name\":\"/evil\\u001b[2Jname\"}",
        );
        assert_eq!(files.container(&id).container, None);
        root.write(
            &format!("var/lib/docker/containers/{ID}/config.v2.json"),
            "not json",
        );
        assert_eq!(files.container(ID), Names::default());
        // An id that is no id is not even looked up (no path tricks).
        assert_eq!(files.container("../../../etc"), Names::default());
        root.write(
            "var/lib/containers/storage/overlay-containers/containers.json",
            r#"{"id":"not a list"}"#,
        );
        assert!(files.storage_names().is_empty());
    }
}
