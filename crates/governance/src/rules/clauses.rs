//! Clause references quoted in criteria (from the seed document, see `governance.md`).

pub const PHASE_SET: &str = "seed §2; SVTAD (MOC/FOC) and MTAD: three Test Phases per DMC/SMSO";
pub const OVERLAP: &str = "SVTAD 5.7, 12.6 (seed §3 items 3, 8)";
pub const DNB_SETTLED: &str = "SVTAD 12.5(e), 12.7, 12.8; MTAD 8.2(e), 8.3";
pub const PRECURSORS: &str = "SVTAD 12.6 (seed §3 item 8)";
pub const COVERAGE: &str = "SVTAD 12.5(e), 12.7; MTAD 8.2(e) (Depth & Breadth)";
pub const PHASE_LIMITS: &str = "SVTAD Table 13.3; 13.21-13.23";
pub const REGRESSION_LIMITS: &str = "SVTAD Table 13.1 (seed §3 item 12)";
pub const AGGREGATE: &str = "SVTAD 13.21-13.23 (seed §3 item 13)";
pub const REGRESSION: &str = "seed §2; SVTAD 7.4(c), 7.6, 7.7; MTAD 7";
pub const DESCOPE: &str = "SVTAD 12.9(a); MTAD 4.3(b)";
pub const DMC: &str = "SVTAD 13.5, 13.9, 13.11";
pub const REPORT: &str = "SVTAD 9.7; MTAD 10.2";
pub const AUDIT: &str = "seed §3 item 14 (SVTAD 19, MTAD 12: audit limited to IOC)";
pub const DISPUTE: &str = "SVTAD 12.7, 12.8 (disputes referred to the Secretary of State)";
pub const TIMETABLE: &str = "SVTAD 8.7";
pub const EVIDENCE: &str = "governance.md: missing data is never a pass";
