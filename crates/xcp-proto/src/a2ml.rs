//! The A2ML grammar of `IF_DATA XCP`, one text shared by both sides of the project.
//!
//! This is our own declaration of the part of the XCP IF_DATA grammar (ASAM MCD-1 XCP, the
//! common A2ML of part 2 and the transport-layer parts) that xcpkit writes and reads: protocol
//! layer, DAQ with events, DAQ_EVENT lists, PAG, PGM, segments with pages and checksum, and the
//! transport blocks for TCP, UDP, CAN (with CAN FD), SxI and USB. The slave embeds it in the
//! A2L it generates; `xcp-a2l` uses it for files that carry no A2ML of their own.
//! Vendor extensions and the XCP 1.4 time-correlation block are not declared: files that use
//! them carry their own A2ML, which takes precedence.

/// The A2ML declarations (the text between `/begin A2ML` and `/end A2ML`).
pub const XCP_A2ML: &str = r#"struct Protocol_Layer {
  uint;  /* protocol layer version */
  uint; uint; uint; uint; uint; uint; uint;  /* T1 .. T7 in ms */
  uchar;  /* MAX_CTO */
  uint;  /* MAX_DTO */
  enum { "BYTE_ORDER_MSB_LAST" = 0, "BYTE_ORDER_MSB_FIRST" = 1 };
  enum { "ADDRESS_GRANULARITY_BYTE" = 1, "ADDRESS_GRANULARITY_WORD" = 2, "ADDRESS_GRANULARITY_DWORD" = 4 };
  taggedstruct {
    ("OPTIONAL_CMD" enum {
      "GET_COMM_MODE_INFO" = 251, "GET_ID" = 250, "SET_REQUEST" = 249, "GET_SEED" = 248,
      "UNLOCK" = 247, "SET_MTA" = 246, "UPLOAD" = 245, "SHORT_UPLOAD" = 244,
      "BUILD_CHECKSUM" = 243, "TRANSPORT_LAYER_CMD" = 242, "USER_CMD" = 241,
      "DOWNLOAD" = 240, "DOWNLOAD_NEXT" = 239, "DOWNLOAD_MAX" = 238, "SHORT_DOWNLOAD" = 237,
      "MODIFY_BITS" = 236, "SET_CAL_PAGE" = 235, "GET_CAL_PAGE" = 234,
      "GET_PAG_PROCESSOR_INFO" = 233, "GET_SEGMENT_INFO" = 232, "GET_PAGE_INFO" = 231,
      "SET_SEGMENT_MODE" = 230, "GET_SEGMENT_MODE" = 229, "COPY_CAL_PAGE" = 228,
      "CLEAR_DAQ_LIST" = 227, "SET_DAQ_PTR" = 226, "WRITE_DAQ" = 225,
      "SET_DAQ_LIST_MODE" = 224, "GET_DAQ_LIST_MODE" = 223, "START_STOP_DAQ_LIST" = 222,
      "START_STOP_SYNCH" = 221, "GET_DAQ_CLOCK" = 220, "READ_DAQ" = 219,
      "GET_DAQ_PROCESSOR_INFO" = 218, "GET_DAQ_RESOLUTION_INFO" = 217,
      "GET_DAQ_LIST_INFO" = 216, "GET_DAQ_EVENT_INFO" = 215, "FREE_DAQ" = 214,
      "ALLOC_DAQ" = 213, "ALLOC_ODT" = 212, "ALLOC_ODT_ENTRY" = 211, "PROGRAM_START" = 210,
      "PROGRAM_CLEAR" = 209, "PROGRAM" = 208, "PROGRAM_RESET" = 207,
      "GET_PGM_PROCESSOR_INFO" = 206, "GET_SECTOR_INFO" = 205, "PROGRAM_PREPARE" = 204,
      "PROGRAM_FORMAT" = 203, "PROGRAM_NEXT" = 202, "PROGRAM_MAX" = 201,
      "PROGRAM_VERIFY" = 200, "WRITE_DAQ_MULTIPLE" = 199,
      "TIME_CORRELATION_PROPERTIES" = 198, "DTO_CTR_PROPERTIES" = 197,
      "GET_VERSION" = 49152
    })*;
    "COMMUNICATION_MODE_SUPPORTED" taggedunion {
      "BLOCK" taggedstruct {
        "SLAVE";
        "MASTER" struct { uchar; uchar; };  /* MAX_BS, MIN_ST */
      };
      "INTERLEAVED" uchar;
    };
    "SEED_AND_KEY_EXTERNAL_FUNCTION" char[256];
  };
};
struct Daq {
  enum { "STATIC" = 0, "DYNAMIC" = 1 };
  uint;  /* MAX_DAQ */
  uint;  /* MAX_EVENT_CHANNEL */
  uchar;  /* MIN_DAQ */
  enum { "OPTIMISATION_TYPE_DEFAULT" = 0 };
  enum { "ADDRESS_EXTENSION_FREE" = 0, "ADDRESS_EXTENSION_ODT" = 1, "ADDRESS_EXTENSION_DAQ" = 3 };
  enum {
    "IDENTIFICATION_FIELD_TYPE_ABSOLUTE" = 0,
    "IDENTIFICATION_FIELD_TYPE_RELATIVE_BYTE" = 1,
    "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD" = 2,
    "IDENTIFICATION_FIELD_TYPE_RELATIVE_WORD_ALIGNED" = 3
  };
  enum { "GRANULARITY_ODT_ENTRY_SIZE_DAQ_BYTE" = 1 };
  uchar;  /* MAX_ODT_ENTRY_SIZE_DAQ */
  enum { "NO_OVERLOAD_INDICATION" = 0, "OVERLOAD_INDICATION_PID" = 1, "OVERLOAD_INDICATION_EVENT" = 2 };
  taggedstruct {
    "PRESCALER_SUPPORTED";
    "RESUME_SUPPORTED";
    "PID_OFF_SUPPORTED";
    "STIM" struct {
      enum {
        "GRANULARITY_ODT_ENTRY_SIZE_STIM_BYTE" = 1, "GRANULARITY_ODT_ENTRY_SIZE_STIM_WORD" = 2,
        "GRANULARITY_ODT_ENTRY_SIZE_STIM_DWORD" = 4, "GRANULARITY_ODT_ENTRY_SIZE_STIM_DLONG" = 8
      };
      uchar;  /* MAX_ODT_ENTRY_SIZE_STIM */
      taggedstruct { "BIT_STIM_SUPPORTED"; "MIN_ST_STIM" uchar; };
    };
    block "TIMESTAMP_SUPPORTED" struct {
      uint;  /* TIMESTAMP_TICKS */
      enum { "NO_TIME_STAMP" = 0, "SIZE_BYTE" = 1, "SIZE_WORD" = 2, "SIZE_DWORD" = 4 };
      enum {
        "UNIT_1NS" = 0, "UNIT_10NS" = 1, "UNIT_100NS" = 2, "UNIT_1US" = 3, "UNIT_10US" = 4,
        "UNIT_100US" = 5, "UNIT_1MS" = 6, "UNIT_10MS" = 7, "UNIT_100MS" = 8, "UNIT_1S" = 9
      };
      taggedstruct { "TIMESTAMP_FIXED"; };
    };
    (block "DAQ_LIST" struct {
      uint;  /* DAQ_LIST_NUMBER */
      taggedstruct {
        "DAQ_LIST_TYPE" enum { "DAQ" = 1, "STIM" = 2, "DAQ_STIM" = 3 };
        "MAX_ODT" uchar;
        "MAX_ODT_ENTRIES" uchar;
        "FIRST_PID" uchar;
        "EVENT_FIXED" uint;
        block "PREDEFINED" taggedstruct {
          (block "ODT" struct {
            uchar;  /* ODT number */
            taggedstruct {
              ("ODT_ENTRY" struct { uchar; ulong; uchar; uchar; uchar; })*;
            };
          })*;
        };
      };
    })*;
    (block "EVENT" struct {
      char[101];  /* EVENT_CHANNEL_NAME */
      char[9];  /* EVENT_CHANNEL_SHORT_NAME */
      uint;  /* EVENT_CHANNEL_NUMBER */
      enum { "DAQ" = 1, "STIM" = 2, "DAQ_STIM" = 3 };
      uchar;  /* MAX_DAQ_LIST */
      uchar;  /* TIME_CYCLE */
      uchar;  /* TIME_UNIT */
      uchar;  /* PRIORITY */
      taggedstruct { "CONSISTENCY" enum { "DAQ" = 0, "EVENT" = 1 }; };
    })*;
  };
};
taggedunion Daq_Event {
  "FIXED_EVENT_LIST" taggedstruct { ("EVENT" uint)*; };
  "VARIABLE" taggedstruct {
    block "AVAILABLE_EVENT_LIST" taggedstruct { ("EVENT" uint)*; };
    block "DEFAULT_EVENT_LIST" taggedstruct { ("EVENT" uint)*; };
  };
};
struct Pag {
  uchar;  /* MAX_SEGMENTS */
  taggedstruct { "FREEZE_SUPPORTED"; };
};
struct Pgm {
  enum { "PGM_MODE_ABSOLUTE" = 1, "PGM_MODE_FUNCTIONAL" = 2, "PGM_MODE_ABSOLUTE_AND_FUNCTIONAL" = 3 };
  uchar;  /* MAX_SECTORS */
  uchar;  /* MAX_CTO_PGM */
  taggedstruct {
    (block "SECTOR" struct {
      char[101];  /* SECTOR_NAME */
      uchar;  /* SECTOR_NUMBER */
      ulong;  /* address */
      ulong;  /* length */
      uchar;  /* CLEAR_SEQUENCE_NUMBER */
      uchar;  /* PROGRAM_SEQUENCE_NUMBER */
      uchar;  /* PROGRAM_METHOD */
    })*;
    "COMMUNICATION_MODE_SUPPORTED" taggedunion {
      "BLOCK" taggedstruct {
        "SLAVE";
        "MASTER" struct { uchar; uchar; };
      };
      "INTERLEAVED" uchar;
    };
  };
};
struct Segment {
  uchar;  /* SEGMENT_NUMBER */
  uchar;  /* number of pages */
  uchar;  /* ADDRESS_EXTENSION */
  uchar;  /* COMPRESSION_METHOD */
  uchar;  /* ENCRYPTION_METHOD */
  taggedstruct {
    block "CHECKSUM" struct {
      enum {
        "XCP_ADD_11" = 1, "XCP_ADD_12" = 2, "XCP_ADD_14" = 3, "XCP_ADD_22" = 4,
        "XCP_ADD_24" = 5, "XCP_ADD_44" = 6, "XCP_CRC_16" = 7, "XCP_CRC_16_CITT" = 8,
        "XCP_CRC_32" = 9, "XCP_USER_DEFINED" = 255
      };
      taggedstruct {
        "MAX_BLOCK_SIZE" ulong;
        "EXTERNAL_FUNCTION" char[256];
      };
    };
    (block "PAGE" struct {
      uchar;  /* PAGE_NUMBER */
      enum {
        "ECU_ACCESS_NOT_ALLOWED" = 0, "ECU_ACCESS_WITHOUT_XCP_ONLY" = 1,
        "ECU_ACCESS_WITH_XCP_ONLY" = 2, "ECU_ACCESS_DONT_CARE" = 3
      };
      enum {
        "XCP_READ_ACCESS_NOT_ALLOWED" = 0, "XCP_READ_ACCESS_WITHOUT_ECU_ONLY" = 1,
        "XCP_READ_ACCESS_WITH_ECU_ONLY" = 2, "XCP_READ_ACCESS_DONT_CARE" = 3
      };
      enum {
        "XCP_WRITE_ACCESS_NOT_ALLOWED" = 0, "XCP_WRITE_ACCESS_WITHOUT_ECU_ONLY" = 1,
        "XCP_WRITE_ACCESS_WITH_ECU_ONLY" = 2, "XCP_WRITE_ACCESS_DONT_CARE" = 3
      };
      taggedstruct { "INIT_SEGMENT" uchar; };
    })*;
  };
};
taggedstruct Common_Parameters {
  block "PROTOCOL_LAYER" struct Protocol_Layer;
  block "SEGMENT" struct Segment;
  block "DAQ" struct Daq;
  block "PAG" struct Pag;
  block "PGM" struct Pgm;
  block "DAQ_EVENT" taggedunion Daq_Event;
};
struct IP_Parameters {
  uint;  /* transport layer version */
  uint;  /* PORT */
  taggedunion {
    "HOST_NAME" char[256];
    "ADDRESS" char[15];
    "IPV6" char[39];
  };
};
struct CAN_Parameters {
  uint;  /* transport layer version */
  taggedstruct {
    "CAN_ID_BROADCAST" ulong;
    "CAN_ID_MASTER" ulong;  /* master -> slave; bit 31: 29-bit ID, bit 30: CAN FD */
    "CAN_ID_MASTER_INCREMENTAL";
    "CAN_ID_SLAVE" ulong;  /* slave -> master; bit 31: 29-bit ID, bit 30: CAN FD */
    "CAN_ID_GET_DAQ_CLOCK_MULTICAST" ulong;
    "BAUDRATE" ulong;
    "SAMPLE_POINT" uchar;
    "SAMPLE_RATE" enum { "SINGLE" = 1, "TRIPLE" = 3 };
    "BTL_CYCLES" uchar;
    "SJW" uchar;
    "SYNC_EDGE" enum { "SINGLE" = 1, "DUAL" = 2 };
    "MAX_DLC_REQUIRED";
    (block "DAQ_LIST_CAN_ID" struct {
      uint;  /* DAQ list */
      taggedstruct { "VARIABLE"; "FIXED" ulong; };
    })*;
    (block "EVENT_CAN_ID_LIST" struct {
      uint;  /* event channel */
      taggedstruct { ("FIXED" ulong)*; };
    })*;
    "MAX_BUS_LOAD" ulong;
    "MEASUREMENT_SPLIT_ALLOWED";
    block "CAN_FD" struct {
      taggedstruct {
        "MAX_DLC" uint;
        "CAN_FD_DATA_TRANSFER_BAUDRATE" ulong;
        "SAMPLE_POINT" uchar;
        "BTL_CYCLES" uchar;
        "SJW" uchar;
        "SYNC_EDGE" enum { "SINGLE" = 1, "DUAL" = 2 };
        "MAX_DLC_REQUIRED";
        "SECONDARY_SAMPLE_POINT" uchar;
        "TRANSCEIVER_DELAY_COMPENSATION" enum { "OFF" = 0, "ON" = 1 };
      };
    };
  };
  taggedstruct {
    ("OPTIONAL_TL_SUBCMD" enum {
      "GET_SLAVE_ID" = 255, "GET_DAQ_ID" = 254, "SET_DAQ_ID" = 253, "GET_DAQ_CLOCK_MULTICAST" = 250
    })*;
  };
};
struct SxI_Parameters {
  uint;  /* transport layer version */
  ulong;  /* BAUDRATE */
  taggedstruct {
    "ASYNCH_FULL_DUPLEX_MODE" struct {
      enum { "PARITY_NONE" = 0, "PARITY_ODD" = 1, "PARITY_EVEN" = 2 };
      enum { "ONE_STOP_BIT" = 1, "TWO_STOP_BITS" = 2 };
      taggedstruct { block "FRAMING" struct { uchar; uchar; }; };  /* SYNC, ESC */
    };
    "SYNCH_FULL_DUPLEX_MODE_BYTE";
    "SYNCH_FULL_DUPLEX_MODE_WORD";
    "SYNCH_FULL_DUPLEX_MODE_DWORD";
    "SYNCH_MASTER_SLAVE_MODE_BYTE";
    "SYNCH_MASTER_SLAVE_MODE_WORD";
    "SYNCH_MASTER_SLAVE_MODE_DWORD";
  };
  enum {
    "HEADER_LEN_BYTE" = 0, "HEADER_LEN_CTR_BYTE" = 1, "HEADER_LEN_FILL_BYTE" = 2,
    "HEADER_LEN_WORD" = 3, "HEADER_LEN_CTR_WORD" = 4, "HEADER_LEN_FILL_WORD" = 5
  };
  enum { "NO_CHECKSUM" = 0, "CHECKSUM_BYTE" = 1, "CHECKSUM_WORD" = 2 };
};
struct ep_parameters {
  uchar;  /* endpoint number */
  enum { "BULK_TRANSFER" = 2, "INTERRUPT_TRANSFER" = 3 };
  uint;  /* wMaxPacketSize */
  uchar;  /* bInterval */
  enum { "MESSAGE_PACKING_SINGLE" = 0, "MESSAGE_PACKING_MULTIPLE" = 1, "MESSAGE_PACKING_STREAMING" = 2 };
  enum { "ALIGNMENT_8_BIT" = 0, "ALIGNMENT_16_BIT" = 1, "ALIGNMENT_32_BIT" = 2, "ALIGNMENT_64_BIT" = 3 };
  taggedstruct { "RECOMMENDED_HOST_BUFSIZE" uint; };
};
struct USB_Parameters {
  uint;  /* transport layer version */
  uint;  /* vendor ID */
  uint;  /* product ID */
  uchar;  /* interface number */
  enum {
    "HEADER_LEN_BYTE" = 0, "HEADER_LEN_CTR_BYTE" = 1, "HEADER_LEN_FILL_BYTE" = 2,
    "HEADER_LEN_WORD" = 3, "HEADER_LEN_CTR_WORD" = 4, "HEADER_LEN_FILL_WORD" = 5
  };
  taggedunion { block "OUT_EP_CMD_STIM" struct ep_parameters; };
  taggedunion { block "IN_EP_RESERR_DAQ_EVSERV" struct ep_parameters; };
  taggedstruct {
    "ALTERNATE_SETTING_NO" uchar;
    "INTERFACE_STRING_DESCRIPTOR" char[101];
    (block "OUT_EP_ONLY_STIM" struct ep_parameters)*;
    (block "IN_EP_ONLY_DAQ" struct ep_parameters)*;
    block "IN_EP_ONLY_EVSERV" struct ep_parameters;
  };
};
block "IF_DATA" taggedunion if_data {
  "XCP" struct {
    taggedstruct Common_Parameters;
    taggedstruct {
      block "XCP_ON_TCP_IP" struct {
        struct IP_Parameters;
        taggedstruct Common_Parameters;
      };
      block "XCP_ON_UDP_IP" struct {
        struct IP_Parameters;
        taggedstruct Common_Parameters;
      };
      block "XCP_ON_CAN" struct {
        struct CAN_Parameters;
        taggedstruct Common_Parameters;
      };
      block "XCP_ON_SxI" struct {
        struct SxI_Parameters;
        taggedstruct Common_Parameters;
      };
      block "XCP_ON_USB" struct {
        struct USB_Parameters;
        taggedstruct Common_Parameters;
      };
    };
  };
};
"#;
