//! What this crate needs of `modelDescription.xml` (FMI 2.0 and 3.0): the version, the
//! interface types, and every variable's name, type, causality, variability, start value
//! and whether it is a scalar.

use crate::Error;
use crate::xml::walk;

/// A model variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// `name`.
    pub name: String,
    /// The type: `Boolean`, `Integer`, `String` … (FMI 2.0, the child element), `UInt16`,
    /// `Float64` … (FMI 3.0, the element).
    pub ty: String,
    /// `causality` (the FMI default, `local`, when absent).
    pub causality: String,
    /// `variability` (the FMI default when absent).
    pub variability: String,
    /// The start value, as written.
    pub start: Option<String>,
    /// False for an FMI 3.0 array (it has `Dimension` children).
    pub scalar: bool,
    /// `valueReference`.
    pub value_reference: Option<u32>,
}

/// The parts of `modelDescription.xml` a check and an importer need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelDescription {
    /// `fmiVersion` (`2.0`, `3.0`).
    pub fmi_version: String,
    /// `modelName`.
    pub model_name: String,
    /// `CoSimulation`, `ModelExchange`, `ScheduledExecution` (those present).
    pub interface_types: Vec<String>,
    /// `modelIdentifier` of the first interface type (the binary's name).
    pub model_identifier: Option<String>,
    /// The variables.
    pub variables: Vec<Variable>,
    /// FMI 3.0's `instantiationToken`, FMI 2.0's `guid`.
    pub instantiation_token: Option<String>,
    /// `DefaultExperiment`'s `stepSize`.
    pub default_step: Option<f64>,
    /// `DefaultExperiment`'s `startTime`.
    pub default_start: Option<f64>,
    /// `DefaultExperiment`'s `stopTime`.
    pub default_stop: Option<f64>,
    /// The first interface type's `canBeInstantiatedOnlyOncePerProcess`.
    pub once_per_process: bool,
    /// `providesIntermediateUpdate` of Co-Simulation (FMI 3.0).
    pub provides_intermediate_update: bool,
    /// `hasEventMode` of Co-Simulation (FMI 3.0).
    pub has_event_mode: bool,
}

const FMI3_TYPES: [&str; 15] = [
    "Float32",
    "Float64",
    "Int8",
    "UInt8",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
    "Boolean",
    "String",
    "Binary",
    "Enumeration",
    "Clock",
];
const FMI2_TYPES: [&str; 5] = ["Real", "Integer", "Boolean", "String", "Enumeration"];

impl ModelDescription {
    /// Whether this is FMI 3.x.
    pub fn is_fmi3(&self) -> bool {
        self.fmi_version.starts_with('3')
    }

    /// The variable `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Reads `modelDescription.xml` (`file` names it in errors).
    ///
    /// # Errors
    /// [`Error::Xml`] for XML that does not parse or is no FMI model description.
    pub fn parse(text: &str, file: &str) -> Result<Self, Error> {
        let mut md = Self::default();
        let mut root = false;
        walk(text, file, |e| {
            let owned = |key: &str| e.get(key).map(str::to_owned);
            let or = |key: &str, default: &str| owned(key).unwrap_or_else(|| default.to_owned());
            match (e.path.len(), e.parent(), e.name) {
                (0, _, "fmiModelDescription") => {
                    root = true;
                    md.fmi_version = or("fmiVersion", "");
                    md.model_name = or("modelName", "");
                    md.instantiation_token = owned("instantiationToken").or_else(|| owned("guid"));
                }
                (0, _, other) => {
                    return Err(format!(
                        "the root element is {other}, not fmiModelDescription"
                    ));
                }
                (1, _, "CoSimulation" | "ModelExchange" | "ScheduledExecution") => {
                    md.interface_types.push(e.name.to_owned());
                    if md.model_identifier.is_none() {
                        md.model_identifier = owned("modelIdentifier");
                        md.once_per_process =
                            e.get("canBeInstantiatedOnlyOncePerProcess") == Some("true");
                        md.provides_intermediate_update =
                            e.get("providesIntermediateUpdate") == Some("true");
                        md.has_event_mode = e.get("hasEventMode") == Some("true");
                    }
                }
                (1, _, "DefaultExperiment") => {
                    let time = |key: &str| e.get(key).and_then(|v| v.trim().parse::<f64>().ok());
                    md.default_step = time("stepSize");
                    md.default_start = time("startTime");
                    md.default_stop = time("stopTime");
                }
                (2, Some("ModelVariables"), "ScalarVariable") => md.variables.push(Variable {
                    name: or("name", ""),
                    ty: String::new(),
                    causality: or("causality", "local"),
                    variability: or("variability", "continuous"),
                    start: None,
                    scalar: true,
                    value_reference: e.get("valueReference").and_then(|v| v.trim().parse().ok()),
                }),
                (3, Some("ScalarVariable"), t) if FMI2_TYPES.contains(&t) => {
                    if let Some(v) = md.variables.last_mut() {
                        v.ty = t.to_owned();
                        v.start = owned("start");
                    }
                }
                (2, Some("ModelVariables"), t) if FMI3_TYPES.contains(&t) => {
                    let variability = if t.starts_with("Float") {
                        "continuous"
                    } else {
                        "discrete"
                    };
                    md.variables.push(Variable {
                        name: or("name", ""),
                        ty: t.to_owned(),
                        causality: or("causality", "local"),
                        variability: or("variability", variability),
                        start: owned("start"),
                        scalar: true,
                        value_reference: e
                            .get("valueReference")
                            .and_then(|v| v.trim().parse().ok()),
                    });
                }
                (3, Some(_), "Dimension") if md.is_fmi3() => {
                    if let Some(v) = md.variables.last_mut() {
                        v.scalar = false;
                    }
                }
                // A String's start value is a child element in FMI 3.0.
                (3, Some(_), "Start") if md.is_fmi3() => {
                    if let Some(v) = md.variables.last_mut() {
                        v.start = owned("value");
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        if !root {
            return Err(Error::Xml {
                file: file.to_owned(),
                line: 1,
                reason: "no fmiModelDescription element".to_owned(),
            });
        }
        Ok(md)
    }
}
