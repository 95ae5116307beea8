//! The JSON reader: never panics or overflows the stack, and what it reads
//! survives a round trip through the writer for strings.
#![no_main]
use feishu_tenant_token::json::{self, Member, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Value::String(s)) = json::parse(text) {
        let written = json::object(&[("s", Member::Str(&s))]);
        let back = json::parse(&written).expect("the writer's output parses");
        assert_eq!(back.get("s").and_then(Value::as_str), Some(s.as_str()));
    }
});
