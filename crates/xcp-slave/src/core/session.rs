//! The command processor: CONNECT, DISCONNECT, GET_STATUS, GET_ID and the other session commands.

use super::*;

impl Core {
    pub(super) fn connect(&mut self, mode: u8) -> R {
        ensure(mode <= 1, ErrorCode::OutOfRange)?;
        if !self.s.connected {
            self.s = Session::new(&self.shared);
            self.s.connected = true;
            if let Some(id) = self.resumed {
                self.s.config_id = id;
            }
        }
        let shared = Arc::clone(&self.shared);
        let c = &shared.config;
        let mut resources = Resources::CAL_PAG
            .union(Resources::DAQ)
            .union(Resources::STIM);
        if self.shared.flash.is_some() {
            resources = resources.union(Resources::PGM);
        }
        use xcp_proto::bits::comm_mode_basic as basic;
        let order = if c.byte_order == ByteOrder::Motorola {
            basic::BYTE_ORDER
        } else {
            0
        };
        let block = if c.slave_block_mode {
            basic::SLAVE_BLOCK_MODE
        } else {
            0
        };
        let info = ConnectInfo {
            resources,
            comm_mode_basic: order | block | basic::OPTIONAL,
            max_cto: c.max_cto,
            max_dto: c.max_dto,
            protocol_layer_version: 1,
            transport_layer_version: 1,
        };
        self.res(&Response::Connect(info))?;
        if !c.greeting.is_empty() {
            let text = c.greeting.clone();
            let max = usize::from(c.max_cto) - 2;
            for chunk in text.as_bytes().chunks(max) {
                let serv = Serv::Text(chunk);
                self.out
                    .emit(chunk.len() + 2, |b| serv.emit(b, &self.s.params).ok());
            }
        }
        Ok(())
    }

    pub(super) fn status(&mut self) -> R {
        use xcp_proto::bits::session_status as st;
        let mut session_status = 0u8;
        if self.s.store_cal_pending {
            session_status |= st::STORE_CAL_REQ;
        }
        if self.shared.daq.running.load(Ordering::Relaxed) {
            session_status |= st::DAQ_RUNNING;
            if self.resumed.is_some() {
                session_status |= st::RESUME;
            }
        }
        let st = Status {
            session_status,
            protection: self.s.locked,
            state_number: 0,
            config_id: self.s.config_id,
        };
        self.res(&Response::Status(st))
    }

    pub(super) fn text_mta(&mut self, text: Arc<[u8]>) -> u32 {
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        self.s.mta = Mta::Text(text, 0);
        len
    }

    pub(super) fn get_id(&mut self, id_type: IdType) -> R {
        let text: Arc<[u8]> = match id_type {
            IdType::Ascii | IdType::A2lName => self.shared.name.as_bytes().into(),
            IdType::A2lUpload => {
                let text = self
                    .a2l
                    .get_or_insert_with(|| crate::a2l::text(&self.shared).into_bytes().into());
                Arc::clone(text)
            }
            IdType::Epk => self.shared.epk.as_bytes().into(),
            // Not available: length 0, as the standard asks.
            _ => Arc::from(&[][..]),
        };
        let length = self.text_mta(text);
        self.res(&Response::Id(IdInfo {
            mode: 0,
            length,
            data: &[],
        }))
    }

    pub(super) fn set_request(&mut self, mode: u8, config_id: u16) -> R {
        use xcp_proto::bits::set_request as req;
        ensure(mode & !req::ALL == 0, ErrorCode::OutOfRange)?;
        // Without non-volatile memory a store cannot happen: refuse it rather than answer
        // and fail afterwards.
        ensure(
            mode & (req::STORE_CAL_REQ | req::STORE_DAQ_REQ_NO_RESUME | req::STORE_DAQ_REQ_RESUME)
                == 0
                || self.shared.config.persist_dir.is_some(),
            ErrorCode::AccessDenied,
        )?;
        self.s.config_id = config_id;
        self.ok()?;
        if mode & req::STORE_CAL_REQ != 0 {
            let dir = self
                .shared
                .config
                .persist_dir
                .clone()
                .ok_or(ErrorCode::AccessDenied);
            match dir.map(|d| crate::persist::store(&self.shared, &d)) {
                Ok(Ok(n)) => {
                    tracing::info!(segments = n, "calibration frozen");
                    self.out.ev(&XcpEvent::StoreCal, &self.s.params);
                }
                Ok(Err(e)) => {
                    tracing::warn!("STORE_CAL failed: {e}");
                    self.out.err(ErrorCode::Generic);
                }
                Err(code) => self.out.err(code),
            }
        }
        if mode & (req::STORE_DAQ_REQ_NO_RESUME | req::STORE_DAQ_REQ_RESUME) != 0 {
            match self.store_daq(mode & req::STORE_DAQ_REQ_RESUME != 0) {
                Ok(()) => self.out.ev(&XcpEvent::StoreDaq, &self.s.params),
                Err(code) => self.out.err(code),
            }
        }
        if mode & req::CLEAR_DAQ_REQ != 0 {
            let cleared = self
                .shared
                .config
                .persist_dir
                .as_deref()
                .ok_or(ErrorCode::AccessDenied)
                .and_then(|dir| {
                    crate::persist::clear_daq(dir, &self.shared.epk).map_err(|e| {
                        tracing::warn!("CLEAR_DAQ failed: {e}");
                        ErrorCode::Generic
                    })
                });
            match cleared {
                Ok(()) => self.out.ev(&XcpEvent::ClearDaq, &self.s.params),
                Err(code) => self.out.err(code),
            }
        }
        Ok(())
    }

    /// Whether DAQ lists can go out on identifiers of their own: the transport routes DTOs
    /// by PID, and the PID is an absolute ODT number.
    fn routable(&self) -> bool {
        self.shared.dto_routes().is_some()
            && self.shared.config.id_field == xcp_proto::IdField::AbsoluteOdt
    }

    /// CAN_ID_BROADCAST of the CAN link, if it has one.
    fn can_broadcast(&self) -> Option<xcp_proto::tl::can::CanId> {
        self.shared.transports().into_iter().find_map(|t| match t {
            crate::TransportDesc::Can { broadcast, .. } => broadcast,
            _ => None,
        })
    }

    /// The CAN link this slave serves, if any: its transport-layer commands need it.
    fn can_link(&self) -> Option<xcp_proto::tl::can::CanConfig> {
        self.shared.transports().into_iter().find_map(|t| match t {
            crate::TransportDesc::Can { link, .. } => Some(link),
            _ => None,
        })
    }

    /// GET_SLAVE_ID on CAN: "XCP" (or its inverse) and the identifier this slave listens on.
    pub(super) fn get_slave_id(&mut self, mode: xcp_proto::tl::can::SlaveIdMode) {
        if let Some(link) = self.can_link() {
            let order = self.shared.config.byte_order;
            self.out.push(&xcp_proto::tl::can::slave_id_answer(
                mode,
                link.cmd_id,
                order,
            ));
        }
    }

    /// TRANSPORT_LAYER_CMD: GET_SLAVE_ID, GET_DAQ_ID and SET_DAQ_ID on CAN.
    pub(super) fn transport_layer_cmd(&mut self, sub: u8, data: &[u8]) -> R {
        use xcp_proto::DecodeError;
        use xcp_proto::tl::can::{CanCommand, CanId, DaqIdAnswer};
        let link = self.can_link().ok_or(ErrorCode::SubcmdUnknown)?;
        let order = self.s.params.byte_order;
        let cmd = CanCommand::parse(sub, data, order)
            .map_err(|e| match e {
                DecodeError::InvalidField { field: "MODE", .. } => ErrorCode::ModeNotValid,
                _ => ErrorCode::CmdSyntax,
            })?
            .ok_or(ErrorCode::SubcmdUnknown)?;
        match cmd {
            CanCommand::GetSlaveId(mode) => {
                self.get_slave_id(mode);
                Ok(())
            }
            CanCommand::GetDaqId { daq } => {
                self.list(DaqListNumber(daq))?;
                // Lists may move to identifiers of their own where the transport routes
                // DTOs (and the PID says which list a DTO is); else all stay on
                // CAN_ID_SLAVE, fixed.
                let answer = DaqIdAnswer {
                    fixed: !self.routable(),
                    id: self.lists[usize::from(daq)]
                        .route
                        .unwrap_or_else(|| link.res_id.to_a2l()),
                };
                self.out.push(&answer.emit(order));
                Ok(())
            }
            CanCommand::SetDaqId { daq, id } => {
                self.list(DaqListNumber(daq))?;
                ensure(!self.list_running(DaqListNumber(daq)), ErrorCode::DaqActive)?;
                if id == link.res_id.to_a2l() {
                    self.lists[usize::from(daq)].route = None;
                    return self.ok();
                }
                // Another identifier: only where DTOs can be routed (GET_DAQ_ID says whether),
                // and only a CAN identifier none of the link's own.
                ensure(self.routable(), ErrorCode::OutOfRange)?;
                let can_id = CanId::from_a2l(id).map_err(|_| ErrorCode::OutOfRange)?;
                ensure(
                    can_id != link.cmd_id && Some(can_id) != self.can_broadcast(),
                    ErrorCode::OutOfRange,
                )?;
                self.lists[usize::from(daq)].route = Some(id);
                self.ok()
            }
        }
    }
}
