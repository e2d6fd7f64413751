//! Named bits of the one-byte mode, status and property fields (XCP part 2).
//!
//! Each module is one field; its constants are that field's bits under the standard's
//! names, so code that builds or reads a field says which bit it means. Fields of several
//! bits have a `*_MASK` and, where they are read as a number, a `*_SHIFT`.
//!
//! ```
//! use xcp_proto::bits::{comm_mode_basic, daq_properties};
//!
//! let basic = comm_mode_basic::BYTE_ORDER | comm_mode_basic::OPTIONAL;
//! assert_eq!(basic, 0x81);
//! assert_eq!(daq_properties::OVERLOAD_EVENT >> daq_properties::OVERLOAD_SHIFT, 2);
//! ```

/// COMM_MODE_BASIC, the CONNECT response.
pub mod comm_mode_basic {
    /// BYTE_ORDER: set for Motorola (big endian).
    pub const BYTE_ORDER: u8 = 0x01;
    /// ADDRESS_GRANULARITY: two bits (0 byte, 1 word, 2 double word).
    pub const ADDRESS_GRANULARITY_MASK: u8 = 0x06;
    /// Position of ADDRESS_GRANULARITY.
    pub const ADDRESS_GRANULARITY_SHIFT: u8 = 1;
    /// SLAVE_BLOCK_MODE: UPLOAD may answer in more than one packet.
    pub const SLAVE_BLOCK_MODE: u8 = 0x40;
    /// OPTIONAL: GET_COMM_MODE_INFO has more to say.
    pub const OPTIONAL: u8 = 0x80;
}

/// COMM_MODE_OPTIONAL, the GET_COMM_MODE_INFO response.
pub mod comm_mode_optional {
    /// MASTER_BLOCK_MODE: DOWNLOAD_NEXT and PROGRAM_NEXT are accepted.
    pub const MASTER_BLOCK_MODE: u8 = 0x01;
    /// INTERLEAVED_MODE: the master may send before the previous answer came.
    pub const INTERLEAVED_MODE: u8 = 0x02;
}

/// SESSION_STATUS, the GET_STATUS response.
pub mod session_status {
    /// STORE_CAL_REQ: a calibration store is pending.
    pub const STORE_CAL_REQ: u8 = 0x01;
    /// STORE_DAQ_REQ: a DAQ configuration store is pending.
    pub const STORE_DAQ_REQ: u8 = 0x04;
    /// CLEAR_DAQ_REQ: clearing the stored DAQ configuration is pending.
    pub const CLEAR_DAQ_REQ: u8 = 0x08;
    /// DAQ_RUNNING: at least one DAQ list runs.
    pub const DAQ_RUNNING: u8 = 0x40;
    /// RESUME: the slave runs a stored DAQ configuration in RESUME mode.
    pub const RESUME: u8 = 0x80;
}

/// The mode of SET_REQUEST.
pub mod set_request {
    /// STORE_CAL_REQ: store the working page in non-volatile memory.
    pub const STORE_CAL_REQ: u8 = 0x01;
    /// STORE_DAQ_REQ_NO_RESUME: store the DAQ configuration, not to be resumed at power-up.
    pub const STORE_DAQ_REQ_NO_RESUME: u8 = 0x02;
    /// STORE_DAQ_REQ_RESUME: store the DAQ configuration and resume it at power-up.
    pub const STORE_DAQ_REQ_RESUME: u8 = 0x04;
    /// CLEAR_DAQ_REQ: forget the stored DAQ configuration.
    pub const CLEAR_DAQ_REQ: u8 = 0x08;
    /// Every bit the standard defines.
    pub const ALL: u8 =
        STORE_CAL_REQ | STORE_DAQ_REQ_NO_RESUME | STORE_DAQ_REQ_RESUME | CLEAR_DAQ_REQ;
}

/// The mode of SET_CAL_PAGE and GET_CAL_PAGE.
pub mod cal_page_mode {
    /// ECU: the page the ECU's software reads.
    pub const ECU: u8 = 0x01;
    /// XCP: the page XCP reads and writes.
    pub const XCP: u8 = 0x02;
    /// ALL: every segment at once (SET_CAL_PAGE only).
    pub const ALL: u8 = 0x80;
}

/// PAG_PROPERTIES, the GET_PAG_PROCESSOR_INFO response.
pub mod pag_properties {
    /// FREEZE_SUPPORTED: segments can be frozen with SET_SEGMENT_MODE and STORE_CAL_REQ.
    pub const FREEZE_SUPPORTED: u8 = 0x01;
}

/// The mode of SET_SEGMENT_MODE and GET_SEGMENT_MODE.
pub mod segment_mode {
    /// FREEZE: STORE_CAL_REQ stores this segment.
    pub const FREEZE: u8 = 0x01;
}

/// PAGE_PROPERTIES, the GET_PAGE_INFO response.
pub mod page_properties {
    /// ECU_ACCESS_WITHOUT_XCP: the ECU may use the page while XCP does not.
    pub const ECU_ACCESS_WITHOUT_XCP: u8 = 0x01;
    /// ECU_ACCESS_WITH_XCP: the ECU may use the page while XCP does.
    pub const ECU_ACCESS_WITH_XCP: u8 = 0x02;
    /// XCP_READ_ACCESS_WITHOUT_ECU: XCP may read the page while the ECU does not use it.
    pub const XCP_READ_ACCESS_WITHOUT_ECU: u8 = 0x04;
    /// XCP_READ_ACCESS_WITH_ECU: XCP may read the page while the ECU uses it.
    pub const XCP_READ_ACCESS_WITH_ECU: u8 = 0x08;
    /// XCP_WRITE_ACCESS_WITHOUT_ECU: XCP may write the page while the ECU does not use it.
    pub const XCP_WRITE_ACCESS_WITHOUT_ECU: u8 = 0x10;
    /// XCP_WRITE_ACCESS_WITH_ECU: XCP may write the page while the ECU uses it.
    pub const XCP_WRITE_ACCESS_WITH_ECU: u8 = 0x20;
}

/// DAQ_PROPERTIES, the GET_DAQ_PROCESSOR_INFO response.
pub mod daq_properties {
    /// DAQ_CONFIG_TYPE: set when DAQ lists are allocated dynamically.
    pub const DYNAMIC: u8 = 0x01;
    /// PRESCALER_SUPPORTED.
    pub const PRESCALER: u8 = 0x02;
    /// RESUME_SUPPORTED.
    pub const RESUME: u8 = 0x04;
    /// BIT_STIM_SUPPORTED.
    pub const BIT_STIM: u8 = 0x08;
    /// TIMESTAMP_SUPPORTED.
    pub const TIMESTAMP: u8 = 0x10;
    /// PID_OFF_SUPPORTED.
    pub const PID_OFF: u8 = 0x20;
    /// OVERLOAD_INDICATION: two bits (0 none, 1 PID's most significant bit, 2 event).
    pub const OVERLOAD_MASK: u8 = 0xC0;
    /// Position of OVERLOAD_INDICATION.
    pub const OVERLOAD_SHIFT: u8 = 6;
    /// Overload shown by the most significant bit of the PID.
    pub const OVERLOAD_MSB: u8 = 0x40;
    /// Overload shown by EV_DAQ_OVERLOAD.
    pub const OVERLOAD_EVENT: u8 = 0x80;
}

/// DAQ_KEY_BYTE, the GET_DAQ_PROCESSOR_INFO response.
pub mod daq_key_byte {
    /// Optimisation type (four bits).
    pub const OPTIMISATION_MASK: u8 = 0x0F;
    /// Address extension scope (two bits).
    pub const ADDRESS_EXTENSION_MASK: u8 = 0x30;
    /// Identification field type (two bits).
    pub const IDENTIFICATION_FIELD_MASK: u8 = 0xC0;
    /// Position of the identification field type.
    pub const IDENTIFICATION_FIELD_SHIFT: u8 = 6;
}

/// The mode of SET_DAQ_LIST_MODE and GET_DAQ_LIST_MODE.
pub mod daq_list_mode {
    /// SELECTED: chosen by START_STOP_DAQ_LIST for the next START_STOP_SYNCH (GET only).
    pub const SELECTED: u8 = 0x01;
    /// ALTERNATING: the same bit in SET_DAQ_LIST_MODE, asking for alternating display.
    pub const ALTERNATING: u8 = 0x01;
    /// DIRECTION: set for STIM, clear for DAQ.
    pub const DIRECTION_STIM: u8 = 0x02;
    /// DTO_CTR: the DTOs carry a counter.
    pub const DTO_CTR: u8 = 0x08;
    /// TIMESTAMP: the first DTO of a cycle carries a timestamp.
    pub const TIMESTAMP: u8 = 0x10;
    /// PID_OFF: the DTOs carry no identification field.
    pub const PID_OFF: u8 = 0x20;
    /// RUNNING: the list runs (GET only).
    pub const RUNNING: u8 = 0x40;
    /// RESUME: the list is part of a configuration resumed at power-up (GET only).
    pub const RESUME: u8 = 0x80;
}

/// DAQ_LIST_PROPERTIES, the GET_DAQ_LIST_INFO response.
pub mod daq_list_properties {
    /// PREDEFINED: the list is configured by the slave.
    pub const PREDEFINED: u8 = 0x01;
    /// EVENT_FIXED: the list's event cannot be changed.
    pub const EVENT_FIXED: u8 = 0x02;
    /// DAQ: the list can measure.
    pub const DAQ: u8 = 0x04;
    /// STIM: the list can stimulate.
    pub const STIM: u8 = 0x08;
}

/// DAQ_EVENT_PROPERTIES, the GET_DAQ_EVENT_INFO response.
pub mod daq_event_properties {
    /// DAQ: the event drives measuring lists.
    pub const DAQ: u8 = 0x04;
    /// STIM: the event drives stimulating lists.
    pub const STIM: u8 = 0x08;
    /// CONSISTENCY: two bits (0 per ODT, 1 per DAQ list, 2 per event).
    pub const CONSISTENCY_MASK: u8 = 0xC0;
    /// Consistent per DAQ list.
    pub const CONSISTENCY_DAQ: u8 = 0x40;
    /// Consistent per event.
    pub const CONSISTENCY_EVENT: u8 = 0x80;
}

/// TIMESTAMP_MODE, the GET_DAQ_RESOLUTION_INFO response.
pub mod timestamp_mode {
    /// SIZE: three bits (0 none, 1, 2 or 4 bytes).
    pub const SIZE_MASK: u8 = 0x07;
    /// TIMESTAMP_FIXED: every DTO of a timestamped list carries one.
    pub const FIXED: u8 = 0x08;
    /// UNIT: four bits, the power of ten of the tick (see [`crate::TimeUnit`]).
    pub const UNIT_MASK: u8 = 0xF0;
    /// Position of UNIT.
    pub const UNIT_SHIFT: u8 = 4;
}

/// The mode of START_STOP_DAQ_LIST.
pub mod start_stop_daq_list {
    /// Stop the list.
    pub const STOP: u8 = 0;
    /// Start the list.
    pub const START: u8 = 1;
    /// Select the list for START_STOP_SYNCH.
    pub const SELECT: u8 = 2;
}

/// The mode of START_STOP_SYNCH.
pub mod start_stop_synch {
    /// Stop every list.
    pub const STOP_ALL: u8 = 0;
    /// Start the selected lists.
    pub const START_SELECTED: u8 = 1;
    /// Stop the selected lists.
    pub const STOP_SELECTED: u8 = 2;
    /// Prepare a synchronised start of the selected lists (XCP 1.4).
    pub const PREPARE_START_SELECTED: u8 = 3;
}

/// PGM_PROPERTIES, the GET_PGM_PROCESSOR_INFO response.
pub mod pgm_properties {
    /// ABSOLUTE_MODE: PROGRAM_CLEAR takes an address range.
    pub const ABSOLUTE_MODE: u8 = 0x01;
    /// FUNCTIONAL_MODE: PROGRAM_CLEAR takes a functional range.
    pub const FUNCTIONAL_MODE: u8 = 0x02;
}

/// PAYLOAD_FMT, the extended GET_DAQ_CLOCK response (XCP 1.3).
pub mod daq_clock_payload {
    /// FMT_XCP_SLV: two bits (1: the slave clock in 4 bytes, 2: in 8 bytes).
    pub const SLAVE_MASK: u8 = 0x03;
    /// The slave clock in 8 bytes.
    pub const SLAVE_64: u8 = 0x02;
}

/// SET_PROPERTIES of TIME_CORRELATION_PROPERTIES (XCP 1.3).
pub mod time_correlation {
    /// RESPONSE_FMT: two bits (1 legacy GET_DAQ_CLOCK, 2 extended).
    pub const RESPONSE_FMT_MASK: u8 = 0x03;
    /// GET_DAQ_CLOCK answers in the legacy format.
    pub const RESPONSE_FMT_LEGACY: u8 = 0x01;
    /// GET_DAQ_CLOCK answers in the extended format.
    pub const RESPONSE_FMT_EXTENDED: u8 = 0x02;
    /// Bits the standard leaves reserved.
    pub const RESERVED_MASK: u8 = 0xF0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_bit_fields_are_their_masks_shifted() {
        assert_eq!(
            comm_mode_basic::ADDRESS_GRANULARITY_MASK >> comm_mode_basic::ADDRESS_GRANULARITY_SHIFT,
            3
        );
        assert_eq!(
            daq_properties::OVERLOAD_MASK >> daq_properties::OVERLOAD_SHIFT,
            3
        );
        assert_eq!(
            daq_key_byte::IDENTIFICATION_FIELD_MASK >> daq_key_byte::IDENTIFICATION_FIELD_SHIFT,
            3
        );
        assert_eq!(
            timestamp_mode::UNIT_MASK >> timestamp_mode::UNIT_SHIFT,
            0x0F
        );
        // The fields of one byte do not overlap and together fill it.
        let key = [
            daq_key_byte::OPTIMISATION_MASK,
            daq_key_byte::ADDRESS_EXTENSION_MASK,
            daq_key_byte::IDENTIFICATION_FIELD_MASK,
        ];
        assert_eq!(key.iter().map(|m| m.count_ones()).sum::<u32>(), 8);
        assert_eq!(key.iter().fold(0, |a, m| a | m), 0xFF);
        assert_eq!(
            timestamp_mode::SIZE_MASK | timestamp_mode::FIXED | timestamp_mode::UNIT_MASK,
            0xFF
        );
    }
}
