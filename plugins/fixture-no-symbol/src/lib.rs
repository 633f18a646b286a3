//! A test shared library that lacks the `meterlab_adapter_v1` symbol: the host must refuse it.

/// Some export, so the library is a plausible but wrong plugin.
#[unsafe(no_mangle)]
pub extern "C" fn meterlab_adapter_v0() -> u32 {
    0
}
