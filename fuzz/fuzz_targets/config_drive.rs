//! The lab's config-drive reader (ISO 9660 through hadris-iso, then the NoCloud files) on arbitrary
//! bytes: a BMC's virtual media may be handed anything. It must return an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lab::install::read_seed(data);
});
