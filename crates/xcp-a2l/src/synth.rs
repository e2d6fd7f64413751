//! Synthetic A2L text for tests and benchmarks.
//!
//! No openly licensed A2L uses every conversion kind, so [`Spec::generate`] writes one that
//! does: IDENTICAL, LINEAR, RAT_FUNC, TAB_INTP, TAB_NOINTP, TAB_VERB (COMPU_VTAB and
//! COMPU_VTAB_RANGE), FORM with FORMULA_INV and a `sysc` constant, and STATUS_STRING_REF;
//! VALUE, CURVE (internal axis), MAP (fixed axes), VAL_BLK and ASCII characteristics; an
//! AXIS_PTS and a BLOB; a chain of typedefs under an INSTANCE array; module IF_DATA XCP with
//! TCP and CAN FD; either byte order. Its numbers are chosen so tests can check them by hand
//! (see the constants on [`Spec`]).

use std::fmt::Write as _;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Number of MEASUREMENTs (`meas_0` …).
    pub measurements: usize,
    /// Number of CHARACTERISTICs (`cal_0` …).
    pub characteristics: usize,
    /// MOD_COMMON BYTE_ORDER MSB_FIRST (objects `meas_*` whose index is a multiple of 7 then
    /// override it with MSB_LAST).
    pub motorola: bool,
    /// Characters of LONG_IDENTIFIER per object (to reach a target file size).
    pub comment_len: usize,
    /// Give each measurement an `IF_DATA XCP DAQ_EVENT` (event `i % 3`).
    pub daq_events: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            measurements: 10,
            characteristics: 10,
            motorola: false,
            comment_len: 8,
            daq_events: true,
        }
    }
}

/// The COMPU_METHOD of `meas_i` is `CONVERSIONS[i % CONVERSIONS.len()]`.
pub const CONVERSIONS: [&str; 9] = [
    "cm_ident",
    "cm_lin",
    "cm_rat",
    "cm_intp",
    "cm_nointp",
    "cm_verb",
    "cm_range",
    "cm_form",
    "cm_status",
];

/// The data type of `meas_i` is `TYPES[i % TYPES.len()]`.
pub const TYPES: [&str; 10] = [
    "UBYTE",
    "SBYTE",
    "UWORD",
    "SWORD",
    "ULONG",
    "SLONG",
    "A_UINT64",
    "A_INT64",
    "FLOAT32_IEEE",
    "FLOAT64_IEEE",
];

/// Address of `meas_i`: `MEAS_BASE + 8 · i`.
pub const MEAS_BASE: u32 = 0x0010_0000;
/// Address of `cal_i`: `CAL_BASE + 64 · i`.
pub const CAL_BASE: u32 = 0x0080_0000;
/// Address of the INSTANCE `tracks` (two `track` structures of 24 bytes).
pub const TRACKS: u32 = 0x0002_0000;

const HEAD: &str = r#"ASAP2_VERSION 1 71
/begin PROJECT synth "synthetic A2L written by xcp-a2l's test generator"
  /begin MODULE synth_ecu ""
    /begin MOD_PAR ""
      EPK "synth 1.0"
      ADDR_EPK 0x1000
      SYSTEM_CONSTANT "gain" "4"
    /end MOD_PAR
    /begin COMPU_METHOD cm_ident "" IDENTICAL "%6.2" "" /end COMPU_METHOD
    /begin COMPU_METHOD cm_lin "" LINEAR "%6.2" "km/h" COEFFS_LINEAR 0.5 -10 /end COMPU_METHOD
    /begin COMPU_METHOD cm_rat "" RAT_FUNC "%6.2" "V" COEFFS 0 2 10 0 0 1 /end COMPU_METHOD
    /begin COMPU_METHOD cm_intp "" TAB_INTP "%6.2" "Nm" COMPU_TAB_REF tab_intp /end COMPU_METHOD
    /begin COMPU_METHOD cm_nointp "" TAB_NOINTP "%6.2" "" COMPU_TAB_REF tab_nointp /end COMPU_METHOD
    /begin COMPU_METHOD cm_verb "" TAB_VERB "%6.2" "" COMPU_TAB_REF vtab_gear /end COMPU_METHOD
    /begin COMPU_METHOD cm_range "" TAB_VERB "%6.2" "" COMPU_TAB_REF vtab_range /end COMPU_METHOD
    /begin COMPU_METHOD cm_form "" FORM "%6.2" "degC"
      /begin FORMULA "X1 * sysc(gain) - 40" FORMULA_INV "(X1 + 40) / sysc(gain)" /end FORMULA
    /end COMPU_METHOD
    /begin COMPU_METHOD cm_status "" LINEAR "%6.2" "bar" COEFFS_LINEAR 2 0 STATUS_STRING_REF vtab_status /end COMPU_METHOD
    /begin COMPU_TAB tab_intp "" TAB_INTP 3 0 0 10 100 20 150 /end COMPU_TAB
    /begin COMPU_TAB tab_nointp "" TAB_NOINTP 2 1 10 2 20 DEFAULT_VALUE_NUMERIC -1 /end COMPU_TAB
    /begin COMPU_VTAB vtab_gear "" TAB_VERB 3 0 "N" 1 "D" 2 "R" DEFAULT_VALUE "invalid" /end COMPU_VTAB
    /begin COMPU_VTAB_RANGE vtab_range "" 2 0 9 "low" 10 99 "high" /end COMPU_VTAB_RANGE
    /begin COMPU_VTAB vtab_status "" TAB_VERB 1 255 "SNA" /end COMPU_VTAB
    /begin RECORD_LAYOUT rl_curve NO_AXIS_PTS_X 1 UBYTE AXIS_PTS_X 2 SWORD INDEX_INCR DIRECT FNC_VALUES 3 UWORD ROW_DIR DIRECT /end RECORD_LAYOUT
    /begin RECORD_LAYOUT rl_axis AXIS_PTS_X 1 FLOAT32_IEEE INDEX_INCR DIRECT /end RECORD_LAYOUT
"#;

impl Spec {
    /// Writes the A2L.
    pub fn generate(&self) -> String {
        let mut s = String::with_capacity(
            2000 + (self.measurements + self.characteristics) * (260 + self.comment_len),
        );
        s.push_str(HEAD);
        let order = if self.motorola {
            "MSB_FIRST"
        } else {
            "MSB_LAST"
        };
        let _ = writeln!(
            s,
            "    /begin MOD_COMMON \"\" BYTE_ORDER {order} /end MOD_COMMON"
        );
        for t in TYPES {
            let _ = writeln!(
                s,
                "    /begin RECORD_LAYOUT rl_{t} FNC_VALUES 1 {t} ROW_DIR DIRECT /end RECORD_LAYOUT"
            );
        }
        let comment: String = "x".repeat(self.comment_len);
        for i in 0..self.measurements {
            let cm = CONVERSIONS[i % CONVERSIONS.len()];
            let ty = TYPES[i % TYPES.len()];
            let bo = if self.motorola && i % 7 == 0 {
                " BYTE_ORDER MSB_LAST"
            } else {
                ""
            };
            let ev = if self.daq_events {
                format!(
                    "\n      /begin IF_DATA XCP /begin DAQ_EVENT FIXED_EVENT_LIST EVENT {} /end DAQ_EVENT /end IF_DATA",
                    i % 3
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "    /begin MEASUREMENT meas_{i} \"{comment}\" {ty} {cm} 0 0 -1e12 1e12 ECU_ADDRESS 0x{:X}{bo}{ev}\n    /end MEASUREMENT",
                MEAS_BASE as usize + 8 * i,
            );
        }
        for i in 0..self.characteristics {
            let addr = CAL_BASE as usize + 64 * i;
            let body = match i % 5 {
                0 => "CURVE 0x{A} rl_curve 0 cm_lin -1e6 1e6\n      /begin AXIS_DESCR STD_AXIS NO_INPUT_QUANTITY cm_ident 4 -100 100 /end AXIS_DESCR".to_owned(),
                1 => "MAP 0x{A} rl_UBYTE 0 cm_ident 0 255\n      /begin AXIS_DESCR FIX_AXIS NO_INPUT_QUANTITY cm_ident 3 0 100 FIX_AXIS_PAR_DIST 0 50 3 /end AXIS_DESCR\n      /begin AXIS_DESCR FIX_AXIS NO_INPUT_QUANTITY cm_ident 2 0 100 /begin FIX_AXIS_PAR_LIST 10 20 /end FIX_AXIS_PAR_LIST /end AXIS_DESCR".to_owned(),
                2 => "VAL_BLK 0x{A} rl_SWORD 0 cm_ident -32768 32767 MATRIX_DIM 4 2".to_owned(),
                3 => "ASCII 0x{A} rl_UBYTE 0 NO_COMPU_METHOD 0 255 NUMBER 16".to_owned(),
                _ => format!(
                    "VALUE 0x{{A}} rl_{} 0 {} -1e6 1e6",
                    TYPES[i % TYPES.len()],
                    CONVERSIONS[i % CONVERSIONS.len()]
                ),
            };
            let body = body.replace("{A}", &format!("{addr:X}"));
            let _ = writeln!(
                s,
                "    /begin CHARACTERISTIC cal_{i} \"{comment}\" {body}\n    /end CHARACTERISTIC"
            );
        }
        s.push_str(
            r#"    /begin AXIS_PTS axis_0 "" 0x900000 NO_INPUT_QUANTITY rl_axis 0 cm_ident 5 0 1000 /end AXIS_PTS
    /begin BLOB blob_0 "" 0x910000 64 /end BLOB
    /begin TYPEDEF_MEASUREMENT tm_u16 "" UWORD cm_lin 0 0 -10 32757 /end TYPEDEF_MEASUREMENT
    /begin TYPEDEF_CHARACTERISTIC tc_gain "" VALUE rl_FLOAT32_IEEE 0 cm_ident 0 10 /end TYPEDEF_CHARACTERISTIC
    /begin TYPEDEF_STRUCTURE point "" 4
      /begin STRUCTURE_COMPONENT x tm_u16 0 /end STRUCTURE_COMPONENT
      /begin STRUCTURE_COMPONENT y tm_u16 2 /end STRUCTURE_COMPONENT
    /end TYPEDEF_STRUCTURE
    /begin TYPEDEF_STRUCTURE track "" 24
      /begin STRUCTURE_COMPONENT points point 0 MATRIX_DIM 4 /end STRUCTURE_COMPONENT
      /begin STRUCTURE_COMPONENT id tm_u16 16 /end STRUCTURE_COMPONENT
      /begin STRUCTURE_COMPONENT gain tc_gain 20 /end STRUCTURE_COMPONENT
    /end TYPEDEF_STRUCTURE
    /begin INSTANCE tracks "" track 0x20000 MATRIX_DIM 2 /end INSTANCE
    /begin IF_DATA XCP
      /begin PROTOCOL_LAYER 0x0104 1000 2000 0 0 0 0 0 252 1468 BYTE_ORDER_MSB_LAST ADDRESS_GRANULARITY_BYTE
        OPTIONAL_CMD GET_COMM_MODE_INFO OPTIONAL_CMD SHORT_DOWNLOAD
      /end PROTOCOL_LAYER
      /begin DAQ DYNAMIC 0 3 0 OPTIMISATION_TYPE_DEFAULT ADDRESS_EXTENSION_FREE IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE GRANULARITY_ODT_ENTRY_SIZE_DAQ_BYTE 248 NO_OVERLOAD_INDICATION
        PRESCALER_SUPPORTED
        /begin TIMESTAMP_SUPPORTED 1 SIZE_DWORD UNIT_1US /end TIMESTAMP_SUPPORTED
        /begin EVENT "10ms" "10ms" 0 DAQ 255 10 6 0 /end EVENT
        /begin EVENT "100ms" "100ms" 1 DAQ 255 100 6 0 /end EVENT
        /begin EVENT "sporadic" "spor" 2 DAQ 255 0 0 0 /end EVENT
      /end DAQ
      /begin PAG 1 FREEZE_SUPPORTED /end PAG
      /begin XCP_ON_TCP_IP 0x0104 5555 ADDRESS "127.0.0.1" /end XCP_ON_TCP_IP
      /begin XCP_ON_CAN 0x0104 CAN_ID_MASTER 0x80000700 CAN_ID_SLAVE 0x80000701 BAUDRATE 500000 MAX_DLC_REQUIRED
        /begin DAQ_LIST_CAN_ID 0 FIXED 0x80000710 /end DAQ_LIST_CAN_ID
        /begin DAQ_LIST_CAN_ID 1 VARIABLE /end DAQ_LIST_CAN_ID
        /begin CAN_FD MAX_DLC 64 CAN_FD_DATA_TRANSFER_BAUDRATE 2000000 /end CAN_FD
      /end XCP_ON_CAN
      /begin XCP_ON_USB 0x0103 0x1234 0x5678 1 HEADER_LEN_FILL_WORD
        /begin OUT_EP_CMD_STIM 0x01 BULK_TRANSFER 0x40 0 MESSAGE_PACKING_MULTIPLE ALIGNMENT_32_BIT /end OUT_EP_CMD_STIM
        /begin IN_EP_RESERR_DAQ_EVSERV 0x81 BULK_TRANSFER 0x40 0 MESSAGE_PACKING_MULTIPLE ALIGNMENT_32_BIT /end IN_EP_RESERR_DAQ_EVSERV
      /end XCP_ON_USB
    /end IF_DATA
  /end MODULE
/end PROJECT
"#,
        );
        s
    }
}
