//! Wall-clock time for the kernel's CLOCK_MONOTONIC timestamps: RFC 3339
//! in UTC for JSON (with the date cached a second at a time), local time
//! of day for text and the table (with the UTC offset cached a quarter of
//! an hour at a time, so that it follows daylight saving time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Turns the kernel's CLOCK_MONOTONIC timestamps into wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds.
    mono_to_real_ns: i128,
    /// Where the local time of day comes from.
    zone: Zone,
}

/// The UTC offset of the text output's local time of day.
#[derive(Debug, Clone, Copy)]
enum Zone {
    /// Always this many seconds east of UTC.
    Fixed(i64),
    /// Whatever `offset_at` says for the UTC second (the C library's
    /// local time zone, or a test's), asked once per quarter of an hour
    /// of timestamps and kept in `cache`.
    Local {
        offset_at: fn(i64) -> i64,
        cache: &'static OffsetCache,
    },
}

/// The local time zone's offset for the last quarter of an hour (in UTC)
/// a time of day was written for. Offsets change (daylight saving time
/// starts or ends) on quarter hours at most, in UTC as in local time, so
/// one offset holds for a whole quarter.
///
/// One atomic word, the quarter's number plus one (0: nothing cached yet)
/// over the offset's 32 bits, so that every reader sees a quarter with
/// its own offset; a relaxed load costs what a plain one does.
#[derive(Debug)]
pub(super) struct OffsetCache(AtomicU64);

/// The C library's local time zone, shared by every clock that uses it,
/// as the zone itself is.
static LOCAL: OffsetCache = OffsetCache::new();

/// Seconds in a quarter of an hour.
const QUARTER_S: i64 = 900;

impl OffsetCache {
    pub(super) const fn new() -> OffsetCache {
        OffsetCache(AtomicU64::new(0))
    }

    /// The offset at `utc_s` (seconds since 1970), from the cache when
    /// `utc_s` is in the quarter it holds, else from `offset_at`.
    #[inline]
    pub(super) fn get(&self, utc_s: i64, offset_at: fn(i64) -> i64) -> i64 {
        // The quarter's number plus one; quarters from 1970 to past the
        // year 100000 fit in 32 bits.
        let tag = match u32::try_from(utc_s / QUARTER_S + 1) {
            Ok(tag) if utc_s >= 0 => u64::from(tag),
            _ => return offset_at(utc_s),
        };
        let cached = self.0.load(Ordering::Relaxed);
        if cached >> 32 == tag {
            return i64::from(cached as u32 as i32);
        }
        let offset = offset_at(utc_s);
        if let Ok(o) = i32::try_from(offset) {
            self.0
                .store(tag << 32 | u64::from(o as u32), Ordering::Relaxed);
        }
        offset
    }
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Seconds east of UTC in the local time zone at `utc_s` seconds since
/// 1970 (0 when the C library cannot tell).
fn local_offset_at(utc_s: i64) -> i64 {
    // time_t has 64 bits on every target with BPF ring buffers.
    let t = utc_s as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own and reads the time
    // zone, which nothing here modifies.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

impl Clock {
    /// The clocks as they are now, and local time as the C library's
    /// time zone (TZ, /etc/localtime) has it at each timestamp.
    pub fn now() -> Clock {
        Clock {
            mono_to_real_ns: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC),
            zone: Zone::Local {
                offset_at: local_offset_at,
                cache: &LOCAL,
            },
        }
    }

    /// A clock whose monotonic 0 is `epoch_ns` after 1970, in UTC: the
    /// same output on every run, for tests and the fuzz targets.
    pub fn fixed(epoch_ns: i128) -> Clock {
        Clock {
            mono_to_real_ns: epoch_ns,
            zone: Zone::Fixed(0),
        }
    }

    pub fn system_time(&self, mono_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.real_ns(mono_ns))
    }

    /// Nanoseconds since 1970 (never before it).
    pub(super) fn real_ns(&self, mono_ns: u64) -> u64 {
        (i128::from(mono_ns) + self.mono_to_real_ns).max(0) as u64
    }

    /// RFC 3339 in UTC with microseconds: 2026-11-27T18:31:02.123456Z.
    pub fn rfc3339(&self, mono_ns: u64) -> String {
        humantime::format_rfc3339_micros(self.system_time(mono_ns)).to_string()
    }

    /// Seconds east of UTC at `utc_ns` nanoseconds since 1970.
    #[inline]
    fn utc_offset_s(&self, utc_ns: i128) -> i64 {
        match self.zone {
            Zone::Fixed(offset) => offset,
            Zone::Local { offset_at, cache } => {
                let utc_s = match u64::try_from(utc_ns) {
                    Ok(ns) => (ns / 1_000_000_000) as i64,
                    Err(_) => utc_ns.div_euclid(1_000_000_000).clamp(0, i64::MAX.into()) as i64,
                };
                cache.get(utc_s, offset_at)
            }
        }
    }

    /// Local time of day with microseconds: 18:31:02.123456.
    pub fn time_of_day(&self, mono_ns: u64, out: &mut String) {
        let utc = i128::from(mono_ns) + self.mono_to_real_ns;
        let real = utc + i128::from(self.utc_offset_s(utc)) * 1_000_000_000;
        let real = real.max(0);
        let secs = (real / 1_000_000_000) as u64;
        let micros = ((real % 1_000_000_000) / 1000) as u64;
        let day = secs % 86400;
        for (i, n) in [day / 3600, day / 60 % 60, day % 60]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(b'0' + (n / 10) as u8));
            out.push(char::from(b'0' + (n % 10) as u8));
        }
        out.push('.');
        push_micros(out, micros);
    }
}

/// Appends microseconds (below a million) as six digits.
#[inline]
fn push_micros(out: &mut String, micros: u64) {
    // A seventh leading digit keeps the zeros itoa would drop.
    out.push_str(&itoa::Buffer::new().format(micros + 1_000_000)[1..]);
}

/// The date and time of day of the last second a timestamp was written
/// for: at thousands of transactions a second, most timestamps fall in the
/// same second as the one before, so only their microseconds change.
#[derive(Debug, Default)]
pub struct TimeCache {
    /// Seconds since 1970, and "2026-11-27T18:31:02" for them.
    second: Option<(u64, String)>,
}

impl TimeCache {
    /// Appends `real_ns` (nanoseconds since 1970) the way
    /// `humantime::format_rfc3339_micros` writes it:
    /// 2026-11-27T18:31:02.123456Z.
    ///
    /// Inlined into the JSON writer (the new second's date apart), as it
    /// was when both were in one file.
    #[inline(always)]
    pub(super) fn push_rfc3339_micros(&mut self, real_ns: u64, out: &mut String) {
        let secs = real_ns / 1_000_000_000;
        let prefix = match &mut self.second {
            Some((s, prefix)) if *s == secs => prefix,
            second => &mut second.insert((secs, date_and_time(secs))).1,
        };
        out.push_str(prefix);
        out.push('.');
        push_micros(out, real_ns % 1_000_000_000 / 1000);
        out.push('Z');
    }
}

/// "2026-11-27T18:31:02" for `secs` seconds since 1970.
#[cold]
#[inline(never)]
fn date_and_time(secs: u64) -> String {
    // humantime fails only from the year 10000 on, and a u64 of
    // nanoseconds ends in 2554.
    let mut prefix =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
    prefix.truncate("2026-11-27T18:31:02".len());
    prefix
}

#[cfg(test)]
impl Clock {
    /// A clock `mono_to_real_ns` ahead of CLOCK_MONOTONIC, `offset_s`
    /// east of UTC.
    pub(super) fn with_offset(mono_to_real_ns: i128, offset_s: i64) -> Clock {
        Clock {
            mono_to_real_ns,
            zone: Zone::Fixed(offset_s),
        }
    }

    /// CLOCK_MONOTONIC 0 at 1970, with the offsets `offset_at` gives.
    fn in_zone(offset_at: fn(i64) -> i64, cache: &'static OffsetCache) -> Clock {
        Clock {
            mono_to_real_ns: 0,
            zone: Zone::Local { offset_at, cache },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// The cached date and time of day change exactly where humantime's
    /// do: at every second, day, month and year, in leap years and in
    /// century years that are not, moving forwards or back.
    #[test]
    fn timestamps_match_humantime() {
        let mut times = TimeCache::default();
        let mut check = |real_ns: u64| {
            let mut s = String::new();
            times.push_rfc3339_micros(real_ns, &mut s);
            let t = UNIX_EPOCH + Duration::from_nanos(real_ns);
            assert_eq!(s, humantime::format_rfc3339_micros(t).to_string());
        };
        const DAY: u64 = 86_400_000_000_000;
        // Around midnight of every day from 1970 to 2110 (2000 is a leap
        // year, 2100 not), and of every New Year's Day until u64 ends.
        let mut midnights: Vec<u64> = (1..51_500).map(|d| d * DAY).collect();
        let mut year_start = 0u64;
        for year in 1970u64..2554 {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            year_start += if leap { 366 } else { 365 } * DAY;
            midnights.push(year_start);
        }
        for m in midnights {
            for delta in [
                -1_000_000_000i64,
                -1000,
                -1,
                0,
                999,
                1000,
                1001,
                999_999_999,
            ] {
                check(m.wrapping_add_signed(delta));
            }
        }
        // Leap days themselves.
        for leap_day in [951_782_400u64, 1_709_164_800, 4_107_456_000] {
            check(leap_day * 1_000_000_000 + 123_456_789);
            check((leap_day + 86_399) * 1_000_000_000 + 999_999_999);
        }
        check(0);
        check(u64::MAX);
        // A walk back and forth, in steps from nanoseconds to years.
        let mut ns = 1_795_802_400_000_000_000u64;
        for i in 0..20_000u64 {
            let step = (i * 2_654_435_761) % (1 << (i % 56));
            ns = if i % 3 == 0 {
                ns.saturating_sub(step)
            } else {
                ns.saturating_add(step)
            };
            check(ns);
        }
    }

    /// 2026-03-29T01:00:00Z, when Central European Summer Time starts.
    const CEST_FROM: i64 = 1_774_746_000;
    /// 2026-10-25T01:00:00Z, when it ends.
    const CEST_UNTIL: i64 = 1_792_890_000;

    /// The European rule for 2026 (CET, CEST in between), with a count of
    /// how often it was asked.
    fn central_europe(utc_s: i64) -> i64 {
        ASKED.fetch_add(1, Ordering::Relaxed);
        if (CEST_FROM..CEST_UNTIL).contains(&utc_s) {
            7200
        } else {
            3600
        }
    }
    static ASKED: AtomicUsize = AtomicUsize::new(0);

    fn time_of_day(clock: &Clock, utc_s: i64, micros: u64) -> String {
        let mut s = String::new();
        clock.time_of_day(utc_s as u64 * 1_000_000_000 + micros * 1000, &mut s);
        s
    }

    /// The time of day moves to summer time and back on the second the
    /// zone does, in a clock made before either, and the zone is asked
    /// once per quarter of an hour of timestamps, not once per line.
    #[test]
    fn local_time_follows_daylight_saving_time() {
        static CACHE: OffsetCache = OffsetCache::new();
        let clock = Clock::in_zone(central_europe, &CACHE);
        for (utc_s, want) in [
            (CEST_FROM - 3600, "01:00:00.000000"),
            (CEST_FROM - 1, "01:59:59.999999"),
            (CEST_FROM, "03:00:00.000000"),
            (CEST_FROM + 1, "03:00:01.000000"),
            (CEST_UNTIL - 1, "02:59:59.999999"),
            (CEST_UNTIL, "02:00:00.000000"),
            (CEST_UNTIL + 3600, "03:00:00.000000"),
            // Back before the change, after the cache moved past it.
            (CEST_FROM - 1, "01:59:59.999999"),
        ] {
            let micros = if want.ends_with("999999") { 999_999 } else { 0 };
            assert_eq!(time_of_day(&clock, utc_s, micros), want, "at {utc_s}");
        }
        let before = ASKED.load(Ordering::Relaxed);
        // A transaction every 10 ms for an hour and a half across the
        // change: 540,000 lines, six quarters of an hour.
        let start = CEST_FROM - 45 * 60;
        let mut s = String::new();
        for i in 0..540_000u64 {
            let ns = start as u64 * 1_000_000_000 + i * 10_000_000;
            s.clear();
            clock.time_of_day(ns, &mut s);
            let utc_s = (ns / 1_000_000_000) as i64;
            let hour = if utc_s < CEST_FROM { "01" } else { "03" };
            assert_eq!(&s[..2], hour, "{s} at {utc_s}");
        }
        assert_eq!(ASKED.load(Ordering::Relaxed) - before, 6);
    }

    #[test]
    fn offset_cache_keeps_one_quarter() {
        static CACHE: OffsetCache = OffsetCache::new();
        let by_quarter = |s: i64| s / QUARTER_S * 60;
        for s in [0, 1, 899, 900, 1_795_802_400, 1_795_803_299, 899] {
            assert_eq!(CACHE.get(s, by_quarter), by_quarter(s), "{s}");
        }
        // Before 1970, and offsets too far east to cache, go uncached.
        assert_eq!(CACHE.get(-1, |_| -5), -5);
        assert_eq!(CACHE.get(9000, |_| i64::MAX), i64::MAX);
        assert_eq!(CACHE.get(9001, |_| 7), 7);
        assert_eq!(CACHE.get(9002, |_| 8), 7);
    }

    /// The C library's own zone, in a child process with TZ set (the
    /// environment of a running test process is not the test's to
    /// change): local_offset_at follows the POSIX rule for Central
    /// Europe, and so does the time of day of Clock::now's zone.
    #[test]
    fn local_offset_follows_tz() {
        const CHILD: &str = "DNSTRACE_TZ_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "output::clock::tests::local_offset_follows_tz",
                    "--exact",
                    "--test-threads=1",
                ])
                .env(CHILD, "1")
                .env("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}");
            assert!(stdout.contains("1 passed"), "{stdout}");
            return;
        }
        for (utc_s, want) in [
            (CEST_FROM - 1, 3600),
            (CEST_FROM, 7200),
            (CEST_UNTIL - 1, 7200),
            (CEST_UNTIL, 3600),
        ] {
            assert_eq!(local_offset_at(utc_s), want, "at {utc_s}");
        }
        let clock = Clock {
            mono_to_real_ns: 0,
            ..Clock::now()
        };
        assert_eq!(time_of_day(&clock, CEST_FROM - 1, 0), "01:59:59.000000");
        assert_eq!(time_of_day(&clock, CEST_FROM, 0), "03:00:00.000000");
        assert_eq!(time_of_day(&clock, CEST_UNTIL, 0), "02:00:00.000000");
    }
}
