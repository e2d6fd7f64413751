//! One typed `async` method per XCP command. Each sends the command, applies the session's
//! error handling and decodes the response; higher-level operations (memory transfers of
//! any length, DAQ set-up) live in `memory` and `daq`.

use xcp_proto::{
    Address, ChecksumResult, CommModeInfo, Command, ConnectInfo, DaqClock, DaqEventInfo,
    DaqListInfo, DaqListModeInfo, DaqListNumber, DaqProcessorInfo, DaqResolutionInfo, DtoCtrInfo,
    EventChannel, IdType, OdtEntry, OdtEntryList, PackedModeInfo, PgmProcessorInfo,
    ProgramStartInfo, Resources, Response, SectorInfo, SegmentInfo, Status, TimeCorrelationInfo,
    Version,
};

use crate::error::Error;
use crate::session::Master;

/// GET_ID's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// Mode: bit 0 the text is in the response (else at the MTA), bit 1 compressed/encrypted.
    pub mode: u8,
    /// Length in bytes.
    pub length: u32,
    /// The bytes carried in the response (empty when they must be uploaded).
    pub data: Vec<u8>,
}

impl Master {
    /// CONNECT: opens the session and adopts the byte order, AG, MAX_CTO and MAX_DTO the
    /// slave announces.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no slave answers (check address, port, CAN IDs),
    /// [`Error::Negative`] when the slave refuses (another master may be connected).
    pub async fn connect(&mut self) -> Result<ConnectInfo, Error> {
        self.set_params(xcp_proto::SessionParams::BEFORE_CONNECT);
        let mode = self.config.connect_mode;
        let info = self
            .request(&Command::Connect { mode }, |r| match r {
                Response::Connect(c) => Some(c),
                _ => None,
            })
            .await?;
        if info.address_granularity().is_none() {
            return Err(Error::Malformed {
                command: "CONNECT",
                reason: "reserved address granularity code 3".to_owned(),
            });
        }
        if info.max_cto < 8 || info.max_dto < 8 {
            return Err(Error::Malformed {
                command: "CONNECT",
                reason: format!(
                    "MAX_CTO {} / MAX_DTO {} below the minimum of 8",
                    info.max_cto, info.max_dto
                ),
            });
        }
        let params = info.session_params(&self.params);
        self.set_params(params);
        self.connect = Some(info);
        // Block modes and their limits; a slave without the optional info has neither.
        self.comm_mode = if info.optional() {
            self.get_comm_mode_info().await.ok()
        } else {
            None
        };
        Ok(info)
    }

    /// DISCONNECT.
    ///
    /// # Errors
    /// As any command.
    pub async fn disconnect(&mut self) -> Result<(), Error> {
        self.simple(&Command::Disconnect).await?;
        self.connect = None;
        Ok(())
    }

    /// GET_STATUS.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_status(&mut self) -> Result<Status, Error> {
        self.request(&Command::GetStatus, |r| match r {
            Response::Status(s) => Some(s),
            _ => None,
        })
        .await
    }

    /// SYNCH: succeeds when the slave answers ERR_CMD_SYNCH, as it must; anything else
    /// arriving first is discarded as late.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no ERR_CMD_SYNCH comes within T1.
    pub async fn synch(&mut self) -> Result<(), Error> {
        self.synch_command().await
    }

    /// GET_COMM_MODE_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_comm_mode_info(&mut self) -> Result<CommModeInfo, Error> {
        self.request(&Command::GetCommModeInfo, |r| match r {
            Response::CommModeInfo(c) => Some(c),
            _ => None,
        })
        .await
    }

    /// GET_ID.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_id(&mut self, id_type: IdType) -> Result<Identification, Error> {
        self.request(&Command::GetId { id_type }, |r| match r {
            Response::Id(i) => Some(Identification {
                mode: i.mode,
                length: i.length,
                data: i.data.to_vec(),
            }),
            _ => None,
        })
        .await
    }

    /// GET_ID and, when the slave leaves the bytes at the MTA, their UPLOAD: the whole
    /// identification (ASCII text for types 0–3, the A2L file for type 4 where offered).
    ///
    /// # Errors
    /// As the commands; [`Error::Unsupported`] when the slave has no such identification.
    pub async fn identification(&mut self, id_type: IdType) -> Result<Vec<u8>, Error> {
        let id = self.get_id(id_type).await?;
        if id.mode & 1 != 0 {
            let mut data = id.data;
            data.truncate(id.length as usize);
            return Ok(data);
        }
        if id.length == 0 {
            return Err(Error::Unsupported(format!(
                "the slave has no identification of type {id_type:?}"
            )));
        }
        self.upload_from_mta(id.length as usize).await
    }

    /// SET_REQUEST.
    ///
    /// # Errors
    /// As any command.
    pub async fn set_request(&mut self, mode: u8, config_id: u16) -> Result<(), Error> {
        self.simple(&Command::SetRequest { mode, config_id }).await
    }

    /// GET_SEED (one packet): remaining length and the seed bytes in this packet.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_seed(
        &mut self,
        mode: u8,
        resource: Resources,
    ) -> Result<(u8, Vec<u8>), Error> {
        self.request(&Command::GetSeed { mode, resource }, |r| match r {
            Response::Seed(s) => Some((s.remaining, s.seed.to_vec())),
            _ => None,
        })
        .await
    }

    /// SET_MTA.
    ///
    /// # Errors
    /// As any command.
    pub async fn set_mta(&mut self, addr: Address) -> Result<(), Error> {
        self.simple(&Command::SetMta { addr }).await
    }

    /// BUILD_CHECKSUM over `block_size` elements from the MTA.
    ///
    /// # Errors
    /// As any command.
    pub async fn build_checksum(&mut self, block_size: u32) -> Result<ChecksumResult, Error> {
        self.request(&Command::BuildChecksum { block_size }, |r| match r {
            Response::Checksum(c) => Some(c),
            _ => None,
        })
        .await
    }

    /// TRANSPORT_LAYER_CMD: the response bytes after the PID.
    ///
    /// # Errors
    /// As any command.
    pub async fn transport_layer_cmd(&mut self, sub: u8, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.request(&Command::TransportLayerCmd { sub, data }, |r| match r {
            Response::Raw { data } => Some(data.to_vec()),
            Response::Ok => Some(Vec::new()),
            _ => None,
        })
        .await
    }

    /// A transport-layer command of XCP on CAN: the answer's bytes after the PID.
    async fn can_command(&mut self, cmd: xcp_proto::tl::can::CanCommand) -> Result<Vec<u8>, Error> {
        let (params, n) = cmd.emit_params(self.params().byte_order);
        self.transport_layer_cmd(cmd.code(), &params[..n]).await
    }

    /// GET_SLAVE_ID (XCP on CAN): the identifier the slave listens on (CAN_ID_MASTER),
    /// checking the echo of the mode.
    ///
    /// # Errors
    /// As any command; [`Error::Malformed`] when the answer is not an echo of this mode.
    pub async fn get_slave_id(
        &mut self,
        mode: xcp_proto::tl::can::SlaveIdMode,
    ) -> Result<xcp_proto::tl::can::CanId, Error> {
        use xcp_proto::tl::can::{CanCommand, parse_slave_id_answer};
        let data = self.can_command(CanCommand::GetSlaveId(mode)).await?;
        let mut packet = vec![0xFF];
        packet.extend_from_slice(&data);
        match parse_slave_id_answer(&packet, Some(self.params().byte_order)) {
            Some((m, id)) if m == mode => Ok(id),
            _ => Err(Error::Malformed {
                command: "GET_SLAVE_ID",
                reason: format!("{} bytes that are not the echo of {mode}", data.len()),
            }),
        }
    }

    /// GET_DAQ_ID (XCP on CAN): the identifier DAQ list `daq` goes out on, and whether it
    /// is fixed.
    ///
    /// # Errors
    /// As any command; [`Error::Malformed`] for a short answer or one that is no identifier.
    pub async fn get_daq_id(
        &mut self,
        daq: u16,
    ) -> Result<(xcp_proto::tl::can::CanId, bool), Error> {
        use xcp_proto::tl::can::{CanCommand, CanId, DaqIdAnswer};
        let data = self.can_command(CanCommand::GetDaqId { daq }).await?;
        let bad = |reason: String| Error::Malformed {
            command: "GET_DAQ_ID",
            reason,
        };
        let a =
            DaqIdAnswer::parse(&data, self.params().byte_order).map_err(|e| bad(e.to_string()))?;
        let id =
            CanId::from_a2l(a.id).map_err(|_| bad(format!("{:#x} is no CAN identifier", a.id)))?;
        Ok((id, a.fixed))
    }

    /// SET_DAQ_ID (XCP on CAN): DAQ list `daq` on identifier `id`.
    ///
    /// # Errors
    /// As any command.
    pub async fn set_daq_id(
        &mut self,
        daq: u16,
        id: xcp_proto::tl::can::CanId,
    ) -> Result<(), Error> {
        let cmd = xcp_proto::tl::can::CanCommand::SetDaqId {
            daq,
            id: id.to_a2l(),
        };
        self.can_command(cmd).await?;
        Ok(())
    }

    /// USER_CMD: the response bytes after the PID.
    ///
    /// # Errors
    /// As any command.
    pub async fn user_cmd(&mut self, sub: u8, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.request(&Command::UserCmd { sub, data }, |r| match r {
            Response::Raw { data } => Some(data.to_vec()),
            Response::Ok => Some(Vec::new()),
            _ => None,
        })
        .await
    }

    /// MODIFY_BITS at the MTA: `((x & and_mask) ^ xor_mask)` on the 32 bits shifted by
    /// `shift`.
    ///
    /// # Errors
    /// As any command.
    pub async fn modify_bits(
        &mut self,
        shift: u8,
        and_mask: u16,
        xor_mask: u16,
    ) -> Result<(), Error> {
        self.simple(&Command::ModifyBits {
            shift,
            and_mask,
            xor_mask,
        })
        .await
    }

    /// SET_CAL_PAGE (mode bits: ECU 0x01, XCP 0x02, all 0x80).
    ///
    /// # Errors
    /// As any command.
    pub async fn set_cal_page(&mut self, mode: u8, segment: u8, page: u8) -> Result<(), Error> {
        self.simple(&Command::SetCalPage {
            mode,
            segment,
            page,
        })
        .await
    }

    /// GET_CAL_PAGE.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_cal_page(&mut self, mode: u8, segment: u8) -> Result<u8, Error> {
        self.request(&Command::GetCalPage { mode, segment }, |r| match r {
            Response::CalPage { page } => Some(page),
            _ => None,
        })
        .await
    }

    /// GET_PAG_PROCESSOR_INFO: number of segments and the PAG properties.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_pag_processor_info(&mut self) -> Result<(u8, u8), Error> {
        self.request(&Command::GetPagProcessorInfo, |r| match r {
            Response::PagProcessorInfo {
                max_segments,
                properties,
            } => Some((max_segments, properties)),
            _ => None,
        })
        .await
    }

    /// GET_SEGMENT_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_segment_info(
        &mut self,
        mode: u8,
        segment: u8,
        segment_info: u8,
        mapping_index: u8,
    ) -> Result<SegmentInfo, Error> {
        self.request(
            &Command::GetSegmentInfo {
                mode,
                segment,
                segment_info,
                mapping_index,
            },
            |r| match r {
                Response::SegmentInfo(s) => Some(s),
                _ => None,
            },
        )
        .await
    }

    /// GET_PAGE_INFO: page properties and init segment.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_page_info(&mut self, segment: u8, page: u8) -> Result<(u8, u8), Error> {
        self.request(&Command::GetPageInfo { segment, page }, |r| match r {
            Response::PageInfo {
                properties,
                init_segment,
            } => Some((properties, init_segment)),
            _ => None,
        })
        .await
    }

    /// SET_SEGMENT_MODE (FREEZE 0x01).
    ///
    /// # Errors
    /// As any command.
    pub async fn set_segment_mode(&mut self, mode: u8, segment: u8) -> Result<(), Error> {
        self.simple(&Command::SetSegmentMode { mode, segment })
            .await
    }

    /// GET_SEGMENT_MODE.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_segment_mode(&mut self, segment: u8) -> Result<u8, Error> {
        self.request(&Command::GetSegmentMode { segment }, |r| match r {
            Response::SegmentMode { mode } => Some(mode),
            _ => None,
        })
        .await
    }

    /// COPY_CAL_PAGE.
    ///
    /// # Errors
    /// As any command.
    pub async fn copy_cal_page(
        &mut self,
        src_segment: u8,
        src_page: u8,
        dst_segment: u8,
        dst_page: u8,
    ) -> Result<(), Error> {
        self.simple(&Command::CopyCalPage {
            src_segment,
            src_page,
            dst_segment,
            dst_page,
        })
        .await
    }

    /// CLEAR_DAQ_LIST.
    ///
    /// # Errors
    /// As any command.
    pub async fn clear_daq_list(&mut self, daq: u16) -> Result<(), Error> {
        self.simple(&Command::ClearDaqList {
            daq: DaqListNumber(daq),
        })
        .await
    }

    /// SET_DAQ_PTR.
    ///
    /// # Errors
    /// As any command.
    pub async fn set_daq_ptr(&mut self, daq: u16, odt: u8, entry: u8) -> Result<(), Error> {
        self.simple(&Command::SetDaqPtr {
            daq: DaqListNumber(daq),
            odt,
            entry,
        })
        .await
    }

    /// WRITE_DAQ.
    ///
    /// # Errors
    /// As any command.
    pub async fn write_daq(&mut self, entry: OdtEntry) -> Result<(), Error> {
        self.simple(&Command::WriteDaq { entry }).await
    }

    /// WRITE_DAQ_MULTIPLE.
    ///
    /// # Errors
    /// As any command; [`Error::InvalidArgument`] beyond what one packet holds.
    pub async fn write_daq_multiple(&mut self, entries: &[OdtEntry]) -> Result<(), Error> {
        let entries = OdtEntryList::from_slice(entries)
            .map_err(|e| Error::InvalidArgument(format!("WRITE_DAQ_MULTIPLE: {e}")))?;
        self.simple(&Command::WriteDaqMultiple { entries }).await
    }

    /// SET_DAQ_LIST_MODE (mode bits: ALTERNATING 0x01, DIRECTION 0x02, DTO_CTR 0x08,
    /// TIMESTAMP 0x10, PID_OFF 0x20).
    ///
    /// # Errors
    /// As any command.
    pub async fn set_daq_list_mode(
        &mut self,
        mode: u8,
        daq: u16,
        event: u16,
        prescaler: u8,
        priority: u8,
    ) -> Result<(), Error> {
        self.simple(&Command::SetDaqListMode {
            mode,
            daq: DaqListNumber(daq),
            event: EventChannel(event),
            prescaler,
            priority,
        })
        .await
    }

    /// GET_DAQ_LIST_MODE.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_list_mode(&mut self, daq: u16) -> Result<DaqListModeInfo, Error> {
        self.request(
            &Command::GetDaqListMode {
                daq: DaqListNumber(daq),
            },
            |r| match r {
                Response::DaqListMode(m) => Some(m),
                _ => None,
            },
        )
        .await
    }

    /// START_STOP_DAQ_LIST (mode 0 stop, 1 start, 2 select): the list's first PID.
    ///
    /// # Errors
    /// As any command.
    pub async fn start_stop_daq_list(&mut self, mode: u8, daq: u16) -> Result<u8, Error> {
        self.request(
            &Command::StartStopDaqList {
                mode,
                daq: DaqListNumber(daq),
            },
            |r| match r {
                Response::StartStopDaqList { first_pid } => Some(first_pid),
                _ => None,
            },
        )
        .await
    }

    /// START_STOP_SYNCH (mode 0 stop all, 1 start selected, 2 stop selected, 3 prepare).
    ///
    /// # Errors
    /// As any command.
    pub async fn start_stop_synch(&mut self, mode: u8) -> Result<(), Error> {
        self.simple(&Command::StartStopSynch { mode }).await
    }

    /// GET_DAQ_CLOCK.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_clock(&mut self) -> Result<DaqClock, Error> {
        self.request(&Command::GetDaqClock, |r| match r {
            Response::DaqClock(c) => Some(c),
            _ => None,
        })
        .await
    }

    /// READ_DAQ: the entry at the DAQ pointer.
    ///
    /// # Errors
    /// As any command.
    pub async fn read_daq(&mut self) -> Result<OdtEntry, Error> {
        self.request(&Command::ReadDaq, |r| match r {
            Response::ReadDaq(e) => Some(e),
            _ => None,
        })
        .await
    }

    /// GET_DAQ_PROCESSOR_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_processor_info(&mut self) -> Result<DaqProcessorInfo, Error> {
        self.request(&Command::GetDaqProcessorInfo, |r| match r {
            Response::DaqProcessorInfo(i) => Some(i),
            _ => None,
        })
        .await
    }

    /// GET_DAQ_RESOLUTION_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_resolution_info(&mut self) -> Result<DaqResolutionInfo, Error> {
        self.request(&Command::GetDaqResolutionInfo, |r| match r {
            Response::DaqResolutionInfo(i) => Some(i),
            _ => None,
        })
        .await
    }

    /// GET_DAQ_LIST_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_list_info(&mut self, daq: u16) -> Result<DaqListInfo, Error> {
        self.request(
            &Command::GetDaqListInfo {
                daq: DaqListNumber(daq),
            },
            |r| match r {
                Response::DaqListInfo(i) => Some(i),
                _ => None,
            },
        )
        .await
    }

    /// GET_DAQ_EVENT_INFO (the name, `name_length` bytes, is then at the MTA).
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_event_info(&mut self, event: u16) -> Result<DaqEventInfo, Error> {
        self.request(
            &Command::GetDaqEventInfo {
                event: EventChannel(event),
            },
            |r| match r {
                Response::DaqEventInfo(i) => Some(i),
                _ => None,
            },
        )
        .await
    }

    /// FREE_DAQ.
    ///
    /// # Errors
    /// As any command.
    pub async fn free_daq(&mut self) -> Result<(), Error> {
        self.simple(&Command::FreeDaq).await
    }

    /// ALLOC_DAQ.
    ///
    /// # Errors
    /// As any command.
    pub async fn alloc_daq(&mut self, count: u16) -> Result<(), Error> {
        self.simple(&Command::AllocDaq { count }).await
    }

    /// ALLOC_ODT.
    ///
    /// # Errors
    /// As any command.
    pub async fn alloc_odt(&mut self, daq: u16, count: u8) -> Result<(), Error> {
        self.simple(&Command::AllocOdt {
            daq: DaqListNumber(daq),
            count,
        })
        .await
    }

    /// ALLOC_ODT_ENTRY.
    ///
    /// # Errors
    /// As any command.
    pub async fn alloc_odt_entry(&mut self, daq: u16, odt: u8, count: u8) -> Result<(), Error> {
        self.simple(&Command::AllocOdtEntry {
            daq: DaqListNumber(daq),
            odt,
            count,
        })
        .await
    }

    /// PROGRAM_START.
    ///
    /// # Errors
    /// As any command.
    pub async fn program_start(&mut self) -> Result<ProgramStartInfo, Error> {
        self.request(&Command::ProgramStart, |r| match r {
            Response::ProgramStart(i) => Some(i),
            _ => None,
        })
        .await
    }

    /// PROGRAM_CLEAR (mode 0: `range` bytes from the MTA; 1: functional).
    ///
    /// # Errors
    /// As any command.
    pub async fn program_clear(&mut self, mode: u8, range: u32) -> Result<(), Error> {
        self.simple(&Command::ProgramClear { mode, range }).await
    }

    /// PROGRAM: `data` at the MTA (empty: end of the memory segment).
    ///
    /// # Errors
    /// As any command.
    pub async fn program(&mut self, data: &[u8]) -> Result<(), Error> {
        let count = self.elements(data.len(), "PROGRAM")?;
        self.simple(&Command::Program { count, data }).await
    }

    /// PROGRAM_RESET.
    ///
    /// # Errors
    /// As any command. A slave that resets without answering ends with a timeout.
    pub async fn program_reset(&mut self) -> Result<(), Error> {
        self.simple(&Command::ProgramReset).await
    }

    /// GET_PGM_PROCESSOR_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_pgm_processor_info(&mut self) -> Result<PgmProcessorInfo, Error> {
        self.request(&Command::GetPgmProcessorInfo, |r| match r {
            Response::PgmProcessorInfo(i) => Some(i),
            _ => None,
        })
        .await
    }

    /// GET_SECTOR_INFO.
    ///
    /// # Errors
    /// As any command.
    pub async fn get_sector_info(&mut self, mode: u8, sector: u8) -> Result<SectorInfo, Error> {
        self.request(&Command::GetSectorInfo { mode, sector }, |r| match r {
            Response::SectorInfo(i) => Some(i),
            _ => None,
        })
        .await
    }

    /// PROGRAM_PREPARE.
    ///
    /// # Errors
    /// As any command.
    pub async fn program_prepare(&mut self, code_size: u16) -> Result<(), Error> {
        self.simple(&Command::ProgramPrepare { code_size }).await
    }

    /// PROGRAM_FORMAT.
    ///
    /// # Errors
    /// As any command.
    pub async fn program_format(
        &mut self,
        compression: u8,
        encryption: u8,
        programming: u8,
        access: u8,
    ) -> Result<(), Error> {
        self.simple(&Command::ProgramFormat {
            compression,
            encryption,
            programming,
            access,
        })
        .await
    }

    /// PROGRAM_MAX: one full packet of data at the MTA.
    ///
    /// # Errors
    /// As any command.
    pub async fn program_max(&mut self, data: &[u8]) -> Result<(), Error> {
        self.simple(&Command::ProgramMax { data }).await
    }

    /// PROGRAM_VERIFY.
    ///
    /// # Errors
    /// As any command.
    pub async fn program_verify(
        &mut self,
        mode: u8,
        verify_type: u16,
        value: u32,
    ) -> Result<(), Error> {
        self.simple(&Command::ProgramVerify {
            mode,
            verify_type,
            value,
        })
        .await
    }

    /// TIME_CORRELATION_PROPERTIES.
    ///
    /// # Errors
    /// As any command.
    pub async fn time_correlation_properties(
        &mut self,
        set_properties: u8,
        get_properties_request: u8,
        cluster_id: u16,
    ) -> Result<TimeCorrelationInfo, Error> {
        self.request(
            &Command::TimeCorrelationProperties {
                set_properties,
                get_properties_request,
                cluster_id,
            },
            |r| match r {
                Response::TimeCorrelation(i) => Some(i),
                _ => None,
            },
        )
        .await
    }

    /// DTO_CTR_PROPERTIES.
    ///
    /// # Errors
    /// As any command.
    pub async fn dto_ctr_properties(
        &mut self,
        modifier: u8,
        event: u16,
        related_event: u16,
        mode: u8,
    ) -> Result<DtoCtrInfo, Error> {
        self.request(
            &Command::DtoCtrProperties {
                modifier,
                event: EventChannel(event),
                related_event: EventChannel(related_event),
                mode,
            },
            |r| match r {
                Response::DtoCtr(i) => Some(i),
                _ => None,
            },
        )
        .await
    }

    /// GET_VERSION (level 1).
    ///
    /// # Errors
    /// As any command.
    pub async fn get_version(&mut self) -> Result<Version, Error> {
        self.request(&Command::GetVersion, |r| match r {
            Response::Version(v) => Some(v),
            _ => None,
        })
        .await
    }

    /// SET_DAQ_LIST_PACKED_MODE (level 1).
    ///
    /// # Errors
    /// As any command.
    pub async fn set_daq_list_packed_mode(
        &mut self,
        daq: u16,
        mode: u8,
        timestamp_mode: u8,
        sample_count: u16,
    ) -> Result<(), Error> {
        self.simple(&Command::SetDaqListPackedMode {
            daq: DaqListNumber(daq),
            mode,
            timestamp_mode,
            sample_count,
        })
        .await
    }

    /// GET_DAQ_LIST_PACKED_MODE (level 1).
    ///
    /// # Errors
    /// As any command.
    pub async fn get_daq_list_packed_mode(&mut self, daq: u16) -> Result<PackedModeInfo, Error> {
        self.request(
            &Command::GetDaqListPackedMode {
                daq: DaqListNumber(daq),
            },
            |r| match r {
                Response::PackedMode(p) => Some(p),
                _ => None,
            },
        )
        .await
    }

    /// Bytes → AG elements as a count byte, checking alignment.
    pub(crate) fn elements(&self, bytes: usize, what: &str) -> Result<u8, Error> {
        let ag = self.params.ag();
        if !bytes.is_multiple_of(ag) {
            return Err(Error::InvalidArgument(format!(
                "{what}: {bytes} bytes is not a multiple of the address granularity ({ag})"
            )));
        }
        u8::try_from(bytes / ag).map_err(|_| {
            Error::InvalidArgument(format!("{what}: {bytes} bytes do not fit one command"))
        })
    }
}
