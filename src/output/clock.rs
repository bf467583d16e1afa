//! Wall-clock time for the kernel's CLOCK_MONOTONIC timestamps: RFC 3339
//! in UTC for JSON (with the date cached a second at a time), local time
//! of day for text and the table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Turns the kernel's CLOCK_MONOTONIC timestamps into wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds.
    mono_to_real_ns: i128,
    /// Seconds east of UTC, for the text output's local time of day.
    utc_offset_s: i64,
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

fn local_utc_offset() -> i64 {
    // SAFETY: time(NULL) has no preconditions; localtime_r writes into the
    // tm we own and reads the time zone, which nothing else here modifies.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            mono_to_real_ns: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC),
            utc_offset_s: local_utc_offset(),
        }
    }

    /// A clock whose monotonic 0 is `epoch_ns` after 1970, in UTC: the
    /// same output on every run, for tests and the fuzz targets.
    pub fn fixed(epoch_ns: i128) -> Clock {
        Clock {
            mono_to_real_ns: epoch_ns,
            utc_offset_s: 0,
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

    /// Local time of day with microseconds: 18:31:02.123456.
    pub fn time_of_day(&self, mono_ns: u64, out: &mut String) {
        let real = i128::from(mono_ns)
            + self.mono_to_real_ns
            + i128::from(self.utc_offset_s) * 1_000_000_000;
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
            utc_offset_s: offset_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
