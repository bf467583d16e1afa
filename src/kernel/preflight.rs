//! Checks made before loading anything, so that a missing privilege or
//! kernel feature is reported as what to do rather than as a libbpf errno.

use std::fmt;
use std::fs;
use std::path::Path;

/// Exit statuses (documented in --help, the README and the man page).
pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_PRIVILEGES: i32 = 3;
pub const EXIT_KERNEL: i32 = 4;

/// A failed precondition: what is wrong, what to do, and the exit status.
#[derive(Debug)]
pub struct PreflightError {
    pub message: String,
    pub exit_code: i32,
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PreflightError {}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set from /proc/self/status.
fn effective_caps(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Loading tracing programs needs CAP_BPF and CAP_PERFMON (or, on older
/// kernels, CAP_SYS_ADMIN); nothing dnstrace does needs CAP_NET_ADMIN.
pub fn check_privileges(status: &str) -> Result<(), PreflightError> {
    let caps = effective_caps(status).unwrap_or(0);
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|(c, _)| !has(*c))
        .map(|(_, name)| name)
        .collect();
    Err(PreflightError {
        message: format!(
            "dnstrace needs root to load its BPF programs: run it with sudo \
             (or grant CAP_BPF and CAP_PERFMON, of which {} missing: \
             sudo setcap cap_bpf,cap_perfmon+ep dnstrace)",
            match missing.as_slice() {
                [one] => format!("{one} is"),
                more => format!("{} are", more.join(" and ")),
            }
        ),
        exit_code: EXIT_PRIVILEGES,
    })
}

/// A `--btf` file must be BTF that libbpf can parse (raw, as in
/// /sys/kernel/btf/vmlinux, or an ELF file with a .BTF section). Checked
/// before loading, because libbpf's own failure later reads like a kernel
/// that cannot run the programs.
pub fn check_btf_file(path: &Path) -> Result<(), String> {
    match fs::metadata(path) {
        Err(_) => return Err(format!("--btf {}: no such file", path.display())),
        Ok(m) if !m.is_file() => return Err(format!("--btf {}: not a file", path.display())),
        Ok(_) => {}
    }
    // libbpf would print its own complaint too; ours says it once.
    let print = libbpf_rs::set_print(None);
    let parsed = libbpf_rs::btf::Btf::from_path(path);
    libbpf_rs::set_print(print);
    parsed.map(drop).map_err(|e| {
        format!(
            "--btf {}: not a BTF file (raw BTF as in /sys/kernel/btf/vmlinux, or ELF with a .BTF section): {e:#}",
            path.display()
        )
    })
}

/// The kernel's BTF is needed to relocate the program (CO-RE) and to attach
/// to the typed tracepoints.
pub fn check_btf(custom: Option<&Path>) -> Result<(), PreflightError> {
    if let Some(path) = custom {
        return match fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(()),
            _ => Err(PreflightError {
                message: format!("--btf {}: no such file", path.display()),
                exit_code: EXIT_KERNEL,
            }),
        };
    }
    if Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Ok(());
    }
    Err(PreflightError {
        message:
            "this kernel exposes no BTF at /sys/kernel/btf/vmlinux (it was built without \
                  CONFIG_DEBUG_INFO_BTF): pass --btf PATH with a BTF file for this exact kernel \
                  (for example from BTFHub); dnstrace then uses classic tracepoints (plain UDP DNS)"
                .into(),
        exit_code: EXIT_KERNEL,
    })
}

/// Classic tracepoints are found through tracefs (their ids); mount it at
/// /sys/kernel/tracing when no tracefs is there, as perf and bpftrace do.
pub fn ensure_tracefs() -> Result<(), PreflightError> {
    let roots = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ];
    let mut denied = None;
    for root in roots {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied = Some(root),
            _ => {}
        }
    }
    // tracefs is there but closed to us: a privilege, not the kernel.
    if let Some(root) = denied {
        return Err(PreflightError {
            message: format!(
                "classic tracepoints are looked up in tracefs, which this user may not read \
                 ({root}): run dnstrace as root"
            ),
            exit_code: EXIT_PRIVILEGES,
        });
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: both strings are NUL-terminated and live across the call.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    let exit_code = match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => EXIT_PRIVILEGES,
        _ => EXIT_KERNEL,
    };
    Err(PreflightError {
        message: format!(
            "classic tracepoints need tracefs, which is not mounted and could not be: mount -t \
             tracefs nodev /sys/kernel/tracing ({err})"
        ),
        exit_code,
    })
}

/// Both tracepoints must exist. Where tracefs is not mounted this cannot be
/// checked here, and the load itself will tell.
pub fn check_tracepoints() -> Result<(), PreflightError> {
    let roots = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ];
    let Some(root) = roots.iter().map(Path::new).find(|p| p.is_dir()) else {
        return Ok(());
    };
    for tp in ["net/net_dev_queue", "net/netif_receive_skb"] {
        if !root.join(tp).is_dir() {
            return Err(PreflightError {
                message: format!(
                    "the tracepoint {tp} is missing from {}: this kernel lacks the networking \
                     tracepoints dnstrace attaches to (CONFIG_NET and tracing support)",
                    root.display()
                ),
                exit_code: EXIT_KERNEL,
            });
        }
    }
    Ok(())
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones to
/// the cgroup. Raising the limit is attempted, and failing is not fatal.
pub fn raise_memlock() -> bool {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct we pass.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) == 0 }
}

pub fn run_all(btf: Option<&Path>) -> Result<(), PreflightError> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    check_privileges(&status)?;
    check_btf(btf)?;
    check_tracepoints()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        let root = "Name:\tx\nCapEff:\t000001ffffffffff\n";
        assert!(check_privileges(root).is_ok());
        let bpf_perfmon = format!(
            "CapEff:\t{:016x}\n",
            (1u64 << CAP_BPF) | (1u64 << CAP_PERFMON)
        );
        assert!(check_privileges(&bpf_perfmon).is_ok());
        let only_bpf = format!("CapEff:\t{:016x}\n", 1u64 << CAP_BPF);
        let e = check_privileges(&only_bpf).unwrap_err();
        assert_eq!(e.exit_code, EXIT_PRIVILEGES);
        assert!(e.message.contains("sudo"));
        assert!(
            e.message.contains("CAP_PERFMON is missing"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("NET_ADMIN"), "{}", e.message);
        let e = check_privileges("CapEff:\t0000000000000000\n").unwrap_err();
        assert!(
            e.message.contains("CAP_BPF and CAP_PERFMON are missing"),
            "{}",
            e.message
        );
        assert!(check_privileges("CapEff:\t0000000000000000\n").is_err());
        assert!(check_privileges("garbage").is_err());
    }

    #[test]
    fn btf_files_are_checked_before_loading() {
        assert!(check_btf_file(Path::new("/sys/kernel/btf/vmlinux")).is_ok());
        let e = check_btf_file(Path::new("/nonexistent/vmlinux.btf")).unwrap_err();
        assert!(
            e.starts_with("--btf /nonexistent/vmlinux.btf: no such file"),
            "{e}"
        );
        let e = check_btf_file(Path::new("/")).unwrap_err();
        assert!(e.contains("not a file"), "{e}");
        let e = check_btf_file(Path::new("/proc/self/status")).unwrap_err();
        assert!(e.contains("not a BTF file"), "{e}");
    }

    #[test]
    fn missing_btf_file_names_the_option() {
        let e = check_btf(Some(Path::new("/nonexistent/vmlinux.btf"))).unwrap_err();
        assert_eq!(e.exit_code, EXIT_KERNEL);
        assert!(e.message.contains("--btf"));
    }
}
