//! INSTANCE paths: `inst.member[3].x` walked through TYPEDEF_STRUCTUREs, their components
//! and array strides, down to a TYPEDEF_MEASUREMENT, TYPEDEF_CHARACTERISTIC, TYPEDEF_AXIS or
//! TYPEDEF_BLOB (a pointer ADDRESS_TYPE ends the walk: it resolves as the pointer value).

use super::*;

impl A2l {
    /// Walks `.member` and `[i]` steps from an INSTANCE through its typedefs.
    pub(super) fn instance_path(
        &self,
        inst: &a2lfile::Instance,
        full: &str,
        mut rest: &str,
    ) -> Result<Object, Error> {
        let m = self.module();
        let invalid = |reason: String| Error::Invalid {
            name: full.to_owned(),
            reason,
        };
        let mut ty = inst.type_ref.clone();
        let mut addr = u64::from(inst.start_address);
        let mut dims = dims_of(inst.matrix_dim.as_ref());
        // Set while the path stands on a pointer (ADDRESS_TYPE other than DIRECT).
        let mut pointer = pointer_type(inst.address_type.as_ref());
        let mut steps = 0;
        while !rest.is_empty() {
            steps += 1;
            if steps > 64 {
                return Err(invalid("the path is too deep".to_owned()));
            }
            if let Some(p) = pointer
                && (dims.is_empty() || rest.starts_with('.'))
            {
                return Err(invalid(format!(
                    "the path goes through a pointer to {ty} ({} bytes at 0x{addr:X}); \
                     its target is only known at run time: read the pointer, then use \
                     that address",
                    p.size()
                )));
            }
            if let Some(r) = rest.strip_prefix('[') {
                let close = r
                    .find(']')
                    .ok_or_else(|| invalid("missing ']'".to_owned()))?;
                let i: usize = r.get(..close).unwrap_or("").trim().parse().map_err(|_| {
                    invalid(format!("bad index \"{}\"", r.get(..close).unwrap_or("")))
                })?;
                let Some((&d0, inner)) = dims.split_first() else {
                    return Err(invalid(format!(
                        "{ty} is not an array here; remove the index"
                    )));
                };
                if i >= d0 {
                    return Err(invalid(format!("index {i} is out of range (0..{d0})")));
                }
                let elem = match pointer {
                    Some(p) => p.size(),
                    None => self
                        .type_size(&ty)
                        .ok_or_else(|| invalid(format!("type {ty} does not exist")))?,
                };
                let stride: usize = inner.iter().product::<usize>() * elem;
                addr += (i * stride) as u64;
                dims = inner.to_vec();
                rest = r.get(close + 1..).unwrap_or("");
            } else if let Some(r) = rest.strip_prefix('.') {
                if !dims.is_empty() {
                    return Err(invalid(format!(
                        "index the array first ({} dimension(s) left)",
                        dims.len()
                    )));
                }
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let member = r.get(..end).unwrap_or("");
                let s = m.typedef_structure.get(&ty).ok_or_else(|| {
                    invalid(format!(
                        "{ty} is not a structure; it has no member {member}"
                    ))
                })?;
                let c = s.structure_component.get(member).ok_or_else(|| {
                    let names: Vec<&str> = s
                        .structure_component
                        .iter()
                        .map(A2lObjectName::get_name)
                        .collect();
                    invalid(format!(
                        "{ty} has no member {member}; its members: {}",
                        names.join(", ")
                    ))
                })?;
                addr += u64::from(c.address_offset);
                ty = c.component_type.clone();
                dims = dims_of(c.matrix_dim.as_ref());
                pointer = pointer_type(c.address_type.as_ref());
                rest = r.get(end..).unwrap_or("");
            } else {
                return Err(invalid(format!(
                    "unexpected \"{rest}\"; use .member or [index]"
                )));
            }
        }
        let address = Some(Address {
            ext: ext(inst.ecu_address_extension.as_ref()),
            addr: u32::try_from(addr)
                .map_err(|_| invalid("the address overflows 32 bits".to_owned()))?,
        });
        if let Some(p) = pointer {
            return Ok(Object {
                name: full.to_owned(),
                comment: format!("pointer to {ty}"),
                kind: ObjectKind::Measurement,
                address,
                datatype: p,
                byte_order: self.byte_order,
                dims,
                layout: None,
                axes: Vec::new(),
                compu: Compu::identical(),
                unit: String::new(),
                limits: p.range(),
                extended_limits: None,
                writable: false,
                bit_mask: None,
                events: Self::events(&inst.if_data),
            });
        }
        if let Some(t) = m.typedef_measurement.get(&ty) {
            let compu = self.compu(&t.conversion)?;
            let mut d = dims;
            d.extend(dims_of(t.matrix_dim.as_ref()));
            return Ok(Object {
                name: full.to_owned(),
                comment: t.long_identifier.clone(),
                kind: ObjectKind::Measurement,
                address,
                datatype: crate::datatype::element_type(&t.datatype),
                byte_order: self.order(t.byte_order.as_ref()),
                dims: d,
                layout: None,
                axes: Vec::new(),
                unit: t
                    .phys_unit
                    .as_ref()
                    .map_or_else(|| compu.unit.clone(), |u| u.unit.clone()),
                compu,
                limits: (t.lower_limit, t.upper_limit),
                extended_limits: None,
                writable: inst.read_write.is_some(),
                bit_mask: t.bit_mask.as_ref().map(|b| b.mask),
                events: Self::events(&inst.if_data),
            });
        }
        if let Some(t) = m.typedef_characteristic.get(&ty) {
            if !dims.is_empty() {
                return Err(invalid(format!(
                    "index the array first ({} dimension(s) left)",
                    dims.len()
                )));
            }
            return self.char_like(
                full.to_owned(),
                address,
                &CharFields::of_typedef(t),
                calibratable(inst.calibration_access.as_ref()),
            );
        }
        if let Some(s) = m.typedef_structure.get(&ty) {
            let names: Vec<&str> = s
                .structure_component
                .iter()
                .map(A2lObjectName::get_name)
                .collect();
            return Err(invalid(format!(
                "is a {ty} structure{}; pick a member: {}",
                if dims.is_empty() {
                    String::new()
                } else {
                    format!(" array {dims:?}")
                },
                names.join(", ")
            )));
        }
        if let Some(t) = m.typedef_axis.get(&ty) {
            let mut o = self.axis_like(
                full,
                &t.long_identifier,
                &t.record_layout,
                &t.conversion,
                t.max_axis_points,
                t.byte_order.as_ref(),
                t.phys_unit.as_ref(),
            )?;
            o.address = address;
            o.limits = (t.lower_limit, t.upper_limit);
            o.extended_limits = t
                .extended_limits
                .as_ref()
                .map(|e| (e.lower_limit, e.upper_limit));
            return Ok(o);
        }
        if let Some(t) = m.typedef_blob.get(&ty) {
            return Ok(self.blob_object(
                full,
                &t.long_identifier,
                address,
                t.size,
                calibratable(inst.calibration_access.as_ref()),
            ));
        }
        Err(invalid(format!(
            "type {ty} is not a TYPEDEF this crate resolves"
        )))
    }

    /// Size in bytes of one element of a typedef (structures use TOTAL_SIZE).
    pub(super) fn type_size(&self, ty: &str) -> Option<usize> {
        let m = self.module();
        if let Some(s) = m.typedef_structure.get(ty) {
            return Some(s.total_size as usize);
        }
        if let Some(t) = m.typedef_measurement.get(ty) {
            return Some(
                crate::datatype::element_type(&t.datatype).size()
                    * dims_of(t.matrix_dim.as_ref())
                        .iter()
                        .product::<usize>()
                        .max(1),
            );
        }
        if let Some(t) = m.typedef_blob.get(ty) {
            return Some(t.size as usize);
        }
        if let Some(t) = m.typedef_axis.get(ty) {
            let p = m.record_layout.get(&t.record_layout)?.axis_pts_x.as_ref()?;
            return Some(
                crate::datatype::element_type(&p.datatype).size() * usize::from(t.max_axis_points),
            );
        }
        if let Some(t) = m.typedef_characteristic.get(ty) {
            let rl = m.record_layout.get(&t.record_layout)?;
            let f = rl.fnc_values.as_ref()?;
            let n = dims_of(t.matrix_dim.as_ref())
                .iter()
                .product::<usize>()
                .max(1);
            return Some(crate::datatype::element_type(&f.datatype).size() * n);
        }
        None
    }
}
