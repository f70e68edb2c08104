//! Decoders: base64/base32/xxd/openssl/rev/tr and the decompressors. Known
//! input is decoded so the payload can be analysed; the decoder's name is
//! recorded in the taint so executing the result is `decode-exec`.

use super::RunCtx;
use crate::analyze::bash::decode;
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, Output, R};
use crate::analyze::bash::words::{Taint, Word};

impl<'s> Analyzer<'s> {
    pub(super) fn decoder(
        &mut self,
        name: &str,
        args: &[Word],
        texts: &[String],
        rc: &RunCtx,
    ) -> R<Output> {
        let has = |flags: &[&str]| texts.iter().any(|t| flags.contains(&t.as_str()));
        let short_flag = |c: char| {
            texts
                .iter()
                .any(|t| t.starts_with('-') && !t.starts_with("--") && t.contains(c))
        };
        let mut input_text = rc.stdin.text.clone();
        let mut taint = rc.stdin.taint.clone();
        let operands: Vec<&String> = texts.iter().filter(|t| !t.starts_with('-')).collect();
        let (label, decoded): (Option<String>, Option<Option<String>>) = match name {
            "base64" | "basenc" if short_flag('d') || short_flag('D') || has(&["--decode"]) => {
                if let Some(f) = operands.first() {
                    let p = paths::normalise(f);
                    let info = self.files.get(&p).cloned();
                    input_text = info.as_ref().and_then(|i| i.content.clone());
                    if let Some(i) = info {
                        taint.merge(&i.taint);
                    }
                }
                (
                    Some("base64 -d".into()),
                    Some(input_text.as_deref().and_then(decode::base64)),
                )
            }
            "base32" if short_flag('d') || has(&["--decode"]) => (
                Some("base32 -d".into()),
                Some(input_text.as_deref().and_then(decode::base32)),
            ),
            "xxd" if short_flag('r') || has(&["--revert"]) => {
                let plain = short_flag('p') || has(&["-ps", "-plain", "--plain"]);
                let text = if plain {
                    input_text.as_deref().and_then(decode::hex)
                } else {
                    None
                };
                (Some("xxd -r".into()), Some(text))
            }
            "openssl" => {
                let sub = texts.first().map(String::as_str).unwrap_or("");
                if sub == "s_client" {
                    self.net_sink.get_or_insert(rc.span);
                    let out = Output {
                        net: true,
                        taint: Taint {
                            download: true,
                            ..Taint::default()
                        },
                        ..Output::default()
                    };
                    return Ok(out);
                }
                let decrypt = texts.iter().any(|t| t == "-d");
                let b64 = sub == "base64"
                    || texts
                        .iter()
                        .any(|t| t == "-a" || t == "-base64" || t == "-A");
                if decrypt {
                    let text = if b64
                        && (sub == "base64"
                            || texts.iter().all(|t| {
                                !t.starts_with("-aes")
                                    && !t.starts_with("-des")
                                    && !t.starts_with("-chacha")
                                    && !t.contains("cbc")
                                    && t != "-k"
                                    && t != "-pass"
                            })) {
                        input_text.as_deref().and_then(decode::base64)
                    } else {
                        None
                    };
                    (Some(format!("openssl {sub} -d")), Some(text))
                } else {
                    (None, None)
                }
            }
            "rev" => (
                Some("rev".into()),
                Some(input_text.as_deref().map(decode::rev)),
            ),
            "tr" => {
                let consts: Option<Vec<String>> = args.iter().map(Word::constant).collect();
                let cipher = consts.as_ref().is_some_and(|c| decode::tr_is_cipher(c));
                let text = match (&input_text, &consts) {
                    (Some(t), Some(c)) => decode::tr(t, c),
                    _ => None,
                };
                if cipher {
                    (Some("tr".into()), Some(text))
                } else {
                    return Ok(Output {
                        text,
                        taint,
                        ..Output::default()
                    });
                }
            }
            "gunzip" | "zcat" | "bunzip2" | "bzcat" | "unxz" | "xzcat" | "uudecode" | "unzstd"
            | "unlzma" => (Some(name.to_string()), Some(None)),
            "gzip" | "bzip2" | "xz" | "zstd" | "lzma"
                if short_flag('d') || has(&["--decompress"]) =>
            {
                (Some(format!("{name} -d")), Some(None))
            }
            _ => (None, None),
        };
        let mut out = Output {
            taint,
            ..Output::default()
        };
        if let Some(l) = label {
            if !out.taint.decoders.contains(&l) {
                out.taint.decoders.push(l);
            }
            out.text = decoded.flatten();
        }
        Ok(out)
    }
}
