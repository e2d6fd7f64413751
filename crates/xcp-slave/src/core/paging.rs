//! The command processor: calibration pages and segments.

use super::*;
use xcp_proto::bits::cal_page_mode;

impl Core {
    pub(super) fn set_cal_page(&mut self, mode: u8, segment: u8, page: u8) -> R {
        let known = cal_page_mode::ECU | cal_page_mode::XCP | cal_page_mode::ALL;
        ensure(
            mode & known != 0 && mode & !known == 0,
            ErrorCode::ModeNotValid,
        )?;
        ensure(page <= 1, ErrorCode::PageNotValid)?;
        let all = mode & cal_page_mode::ALL != 0;
        if !all {
            self.segment(segment)?;
        }
        let kind = if page == 1 {
            PageKind::Reference
        } else {
            PageKind::Working
        };
        for (i, seg) in self.shared.segments.iter().enumerate() {
            if !all && i != usize::from(segment) {
                continue;
            }
            if mode & cal_page_mode::ECU != 0
                && let Some(p) = &seg.pages
            {
                p.set_ecu_page(kind);
            }
            if mode & cal_page_mode::XCP != 0 {
                seg.xcp_page.store(page, Ordering::Relaxed);
            }
        }
        self.ok()
    }

    pub(super) fn get_cal_page(&mut self, mode: u8, segment: u8) -> R {
        let seg = self.segment(segment)?;
        let page = match mode {
            cal_page_mode::ECU => seg
                .pages
                .as_ref()
                .map_or(0, |p| u8::from(p.ecu_page() == PageKind::Reference)),
            cal_page_mode::XCP => seg.xcp_page.load(Ordering::Relaxed),
            _ => return Err(ErrorCode::ModeNotValid),
        };
        self.res(&Response::CalPage { page })
    }

    pub(super) fn segment_info(&mut self, mode: u8, segment: u8, info: u8) -> R {
        let len = self.segment(segment)?.len(&self.shared.epk);
        let r = match mode {
            0 => match info {
                0 => SegmentInfo::Basic {
                    info: crate::memory::segment_address(segment, 0),
                },
                1 => SegmentInfo::Basic {
                    info: u32::try_from(len).unwrap_or(u32::MAX),
                },
                _ => return Err(ErrorCode::OutOfRange),
            },
            1 => SegmentInfo::Standard {
                max_pages: 2,
                address_extension: EXT_SEGMENT,
                max_mapping: 0,
                compression: 0,
                encryption: 0,
            },
            // No address mappings.
            2 => return Err(ErrorCode::OutOfRange),
            _ => return Err(ErrorCode::ModeNotValid),
        };
        self.res(&Response::SegmentInfo(r))
    }

    pub(super) fn copy_cal_page(
        &mut self,
        src_seg: u8,
        src_page: u8,
        dst_seg: u8,
        dst_page: u8,
    ) -> R {
        ensure(src_page <= 1 && dst_page <= 1, ErrorCode::PageNotValid)?;
        let src = self.segment(src_seg)?;
        self.segment(dst_seg)?;
        ensure(src_seg == dst_seg, ErrorCode::SegmentNotValid)?;
        ensure(dst_page == 0, ErrorCode::WriteProtected)?;
        match &src.pages {
            None => return Err(ErrorCode::WriteProtected),
            Some(p) if src_page == 1 => p.reset_to_reference(),
            Some(_) => {}
        }
        self.ok()
    }
}
