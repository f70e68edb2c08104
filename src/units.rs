//! Sizes (`256Mi`, `1G`, `512k`) and durations (`10s`, `500ms`, `2m`) as they
//! appear in policies and on the command line. Both parse strictly: a value
//! that is not a well-formed size or duration is an error, never a default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes, written with an optional binary (`Ki`, `Mi`, `Gi`) or
/// decimal (`k`, `M`, `G`) suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// A duration written as a number and a unit: `ms`, `s`, `m`, `h`
/// (fractions allowed: `1.5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

/// Why a size or duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{0:?} is not a size: expected a number with an optional unit (Ki, Mi, Gi, k, M, G), e.g. 256Mi")]
    Size(String),
    #[error("{0:?} is not a duration: expected a number with a unit (ms, s, m, h), e.g. 10s")]
    Duration(String),
}

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    value.is_finite().then_some((value, unit.trim()))
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError::Size(s.to_string());
        let (value, unit) = split_number(s).ok_or_else(err)?;
        let factor: u64 = match unit {
            "" | "B" | "b" => 1,
            "k" | "K" | "kB" | "KB" => 1_000,
            "M" | "MB" => 1_000_000,
            "G" | "GB" => 1_000_000_000,
            "Ki" | "KiB" => 1 << 10,
            "Mi" | "MiB" => 1 << 20,
            "Gi" | "GiB" => 1 << 30,
            _ => return Err(err()),
        };
        let bytes = value * factor as f64;
        if bytes > u64::MAX as f64 / 2.0 || bytes.fract() != 0.0 {
            return Err(err());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, factor) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if b >= factor && b.is_multiple_of(factor) {
                return write!(f, "{}{unit}", b / factor);
            }
        }
        write!(f, "{b}")
    }
}

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnitError::Duration(s.to_string());
        let (value, unit) = split_number(s).ok_or_else(err)?;
        let secs = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" | "min" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(err()),
        };
        if secs > 366.0 * 86400.0 {
            return Err(err());
        }
        Ok(HumanDuration(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Accept bare numbers too (`pids: 64` style values written for sizes).
                let v = serde_yaml::Value::deserialize(d)?;
                let s = match v {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Number(n) => n.to_string(),
                    other => {
                        return Err(serde::de::Error::custom(format!(
                            "expected a string, found {other:?}"
                        )))
                    }
                };
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(ByteSize);
serde_via_str!(HumanDuration);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("256Mi".parse::<ByteSize>().unwrap().0, 256 << 20);
        assert_eq!("1G".parse::<ByteSize>().unwrap().0, 1_000_000_000);
        assert_eq!("1024".parse::<ByteSize>().unwrap().0, 1024);
        assert_eq!("1.5Ki".parse::<ByteSize>().unwrap().0, 1536);
        for bad in ["", "Mi", "12 apples", "-1Mi", "1e9", "..5M"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        assert_eq!(ByteSize(256 << 20).to_string(), "256Mi");
    }

    #[test]
    fn durations() {
        assert_eq!(
            "10s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(10)
        );
        assert_eq!(
            "500ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "2m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        for bad in ["10", "s", "ten s", "1y"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1500ms"
        );
    }
}
