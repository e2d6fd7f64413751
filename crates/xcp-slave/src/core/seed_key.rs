//! The command processor: GET_SEED and UNLOCK.

use super::*;

impl Core {
    pub(super) fn get_seed(&mut self, mode: u8, resource: Resources) -> R {
        let max = usize::from(self.s.params.max_cto) - 2;
        match mode {
            0 => {
                let valid = [
                    Resources::CAL_PAG,
                    Resources::DAQ,
                    Resources::STIM,
                    Resources::PGM,
                ];
                ensure(valid.contains(&resource), ErrorCode::OutOfRange)?;
                if !self.s.locked.contains(resource) {
                    self.s.seed = None;
                    return self.res(&Response::Seed(Seed {
                        remaining: 0,
                        seed: &[],
                    }));
                }
                let sk = self.shared.seed_key.as_ref().ok_or(ErrorCode::Generic)?;
                let mut seed = sk.seed(resource);
                seed.truncate(255);
                if seed.is_empty() {
                    return Err(ErrorCode::Generic);
                }
                self.s.seed = Some((resource, seed, 0));
                self.s.key = None;
            }
            1 => ensure(
                self.s
                    .seed
                    .as_ref()
                    .is_some_and(|(_, s, sent)| *sent < s.len()),
                ErrorCode::Sequence,
            )?,
            _ => return Err(ErrorCode::OutOfRange),
        }
        let Some((_, seed, sent)) = self.s.seed.as_mut() else {
            return Err(ErrorCode::Sequence);
        };
        let remaining = u8::try_from(seed.len() - *sent).unwrap_or(255);
        let part = &seed[*sent..(*sent + max).min(seed.len())];
        *sent += part.len();
        let r = Response::Seed(Seed {
            remaining,
            seed: part,
        });
        self.out.res(&r, &self.s.params);
        Ok(())
    }

    pub(super) fn unlock(&mut self, remaining: u8, key: &[u8]) -> R {
        let Some((resource, seed, _)) = self.s.seed.clone() else {
            return Err(ErrorCode::Sequence);
        };
        let (_, collected, expected) = self.s.key.get_or_insert((resource, Vec::new(), 0));
        if collected.is_empty() {
            *expected = usize::from(remaining);
        }
        ensure(
            usize::from(remaining) == *expected - collected.len() && !key.is_empty(),
            ErrorCode::Sequence,
        )?;
        collected.extend_from_slice(key);
        if collected.len() < *expected {
            // More key parts to come; the spec answers each part.
            return self.res(&Response::Unlock {
                protection: self.s.locked,
            });
        }
        let key = std::mem::take(collected);
        self.s.key = None;
        self.s.seed = None;
        let ok = self
            .shared
            .seed_key
            .as_ref()
            .is_some_and(|sk| sk.check(resource, &seed, &key));
        if !ok {
            // A wrong key ends the session (XCP part 2, UNLOCK).
            self.out.err(ErrorCode::AccessLocked);
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            self.end_session();
            return Ok(());
        }
        self.s.locked = self.s.locked.without(resource);
        self.res(&Response::Unlock {
            protection: self.s.locked,
        })
    }
}
