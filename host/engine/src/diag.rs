//! Load results: errors and warnings with Falco's codes and the locations they are about.

use crate::yaml::Pos;
use std::fmt;

/// Falco's load result codes, errors and warnings, so tooling written for Falco reads ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Code {
    // Errors.
    LoadErrFileRead,
    LoadErrYamlParse,
    LoadErrYamlValidate,
    LoadErrCompileCondition,
    LoadErrCompileOutput,
    LoadErrValidate,
    LoadErrExtension,
    // Warnings.
    LoadUnknownSource,
    LoadUnsafeNaCheck,
    LoadNoEvttype,
    LoadUnknownFilter,
    LoadUnusedMacro,
    LoadUnusedList,
    LoadUnknownItem,
    LoadDeprecatedItem,
    LoadWarningInternal,
    LoadAppendNoValues,
    LoadExceptionNameNotUnique,
    LoadInvalidMacroName,
    LoadInvalidListName,
    LoadCompileCondition,
    LoadUnknownKey,
    // Lanner's own warnings: a rule that cannot fire where it runs.
    LoadUnfilledField,
    LoadPluginFieldSource,
    LoadUncapturedEvttype,
}

impl Code {
    /// The code as Falco prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::LoadErrFileRead => "LOAD_ERR_FILE_READ",
            Code::LoadErrYamlParse => "LOAD_ERR_YAML_PARSE",
            Code::LoadErrYamlValidate => "LOAD_ERR_YAML_VALIDATE",
            Code::LoadErrCompileCondition => "LOAD_ERR_COMPILE_CONDITION",
            Code::LoadErrCompileOutput => "LOAD_ERR_COMPILE_OUTPUT",
            Code::LoadErrValidate => "LOAD_ERR_VALIDATE",
            Code::LoadErrExtension => "LOAD_ERR_EXTENSION",
            Code::LoadUnknownSource => "LOAD_UNKNOWN_SOURCE",
            Code::LoadUnsafeNaCheck => "LOAD_UNSAFE_NA_CHECK",
            Code::LoadNoEvttype => "LOAD_NO_EVTTYPE",
            Code::LoadUnknownFilter => "LOAD_UNKNOWN_FILTER",
            Code::LoadUnusedMacro => "LOAD_UNUSED_MACRO",
            Code::LoadUnusedList => "LOAD_UNUSED_LIST",
            Code::LoadUnknownItem => "LOAD_UNKNOWN_ITEM",
            Code::LoadDeprecatedItem => "LOAD_DEPRECATED_ITEM",
            Code::LoadWarningInternal => "LOAD_WARNING_INTERNAL",
            Code::LoadAppendNoValues => "LOAD_APPEND_NO_VALUES",
            Code::LoadExceptionNameNotUnique => "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
            Code::LoadInvalidMacroName => "LOAD_INVALID_MACRO_NAME",
            Code::LoadInvalidListName => "LOAD_INVALID_LIST_NAME",
            Code::LoadCompileCondition => "LOAD_COMPILE_CONDITION",
            Code::LoadUnknownKey => "LOAD_UNKNOWN_KEY",
            Code::LoadUnfilledField => "LOAD_UNFILLED_FIELD",
            Code::LoadPluginFieldSource => "LOAD_PLUGIN_FIELD_SOURCE",
            Code::LoadUncapturedEvttype => "LOAD_UNCAPTURED_EVTTYPE",
        }
    }

    /// Whether the warning says a rule cannot fire where it runs (a field never filled, a
    /// plugin field on a source its plugin does not read, an event type never captured):
    /// every command that runs rules reports these.
    pub fn means_cannot_fire(self) -> bool {
        matches!(self, Code::LoadUnfilledField | Code::LoadPluginFieldSource | Code::LoadUncapturedEvttype)
    }

    /// Falco's short description of the code.
    pub fn description(self) -> &'static str {
        match self {
            Code::LoadErrFileRead => "Could not read file",
            Code::LoadErrYamlParse => "Invalid yaml",
            Code::LoadErrYamlValidate => "Invalid rules content",
            Code::LoadErrCompileCondition => "Invalid condition",
            Code::LoadErrCompileOutput => "Invalid output format",
            Code::LoadErrValidate => "Invalid rule",
            Code::LoadErrExtension => "Extension error",
            Code::LoadUnknownSource => "Unknown event source",
            Code::LoadUnsafeNaCheck => "Unsafe <NA> comparison in condition",
            Code::LoadNoEvttype => "Condition has no event-type restriction",
            Code::LoadUnknownFilter => "Unknown field or event-type in condition or output",
            Code::LoadUnusedMacro => "Unused macro",
            Code::LoadUnusedList => "Unused list",
            Code::LoadUnknownItem => "Unknown rules file item",
            Code::LoadDeprecatedItem => "Used deprecated item",
            Code::LoadWarningInternal => "Internal warning",
            Code::LoadAppendNoValues => "Overriding/appending with no values",
            Code::LoadExceptionNameNotUnique => "Multiple exceptions defined with the same name",
            Code::LoadInvalidMacroName => "Invalid macro name",
            Code::LoadInvalidListName => "Invalid list name",
            Code::LoadCompileCondition => "Warning in rule condition",
            Code::LoadUnknownKey => "Unknown key in item definition",
            Code::LoadUnfilledField => "Field is never filled for this source",
            Code::LoadPluginFieldSource => "Plugin field cannot be extracted for this source",
            Code::LoadUncapturedEvttype => "Event type is never captured",
        }
    }

    /// Whether the code is an error (loading fails) rather than a warning.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Code::LoadErrFileRead
                | Code::LoadErrYamlParse
                | Code::LoadErrYamlValidate
                | Code::LoadErrCompileCondition
                | Code::LoadErrCompileOutput
                | Code::LoadErrValidate
                | Code::LoadErrExtension
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of item a diagnostic is about, named as Falco names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ItemType {
    RulesContent,
    RulesContentItem,
    Exceptions,
    ExceptionValues,
    ValueFor,
    ListItem,
    RulePriority,
    Overrides,
    RequiredPluginVersionsEntry,
    RequiredPluginVersionsAlternative,
    RequiredEngineVersion,
    RequiredPluginVersions,
    List,
    Macro,
    Rule,
    Exception,
    ConditionExpression,
    Output,
}

impl ItemType {
    /// Falco's name of the item type.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::RulesContent => "rules content",
            ItemType::RulesContentItem => "rules content item",
            ItemType::Exceptions => "exceptions",
            ItemType::ExceptionValues => "exception values",
            ItemType::ValueFor => "value for",
            ItemType::ListItem => "list item",
            ItemType::RulePriority => "rule priority",
            ItemType::Overrides => "overrides",
            ItemType::RequiredPluginVersionsEntry => "required plugin versions entry",
            ItemType::RequiredPluginVersionsAlternative => "required plugin versions alternative",
            ItemType::RequiredEngineVersion => "required_engine_version",
            ItemType::RequiredPluginVersions => "required plugin versions",
            ItemType::List => "list",
            ItemType::Macro => "macro",
            ItemType::Rule => "rule",
            ItemType::Exception => "exception",
            ItemType::ConditionExpression => "condition expression",
            ItemType::Output => "rule output",
        }
    }
}

/// One place a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// What kind of item.
    pub item_type: ItemType,
    /// Its name (empty when it has none).
    pub item_name: String,
    /// The file.
    pub file: String,
    /// Where in the file.
    pub pos: Pos,
}

/// An error or warning from loading rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Falco's code.
    pub code: Code,
    /// What is wrong, in words.
    pub message: String,
    /// The item first, then more precise places within it.
    pub locations: Vec<Location>,
}

impl Diagnostic {
    /// The item the diagnostic is about.
    pub fn item(&self) -> Option<&Location> {
        self.locations.first()
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.code.is_error()
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error: rule 'name': CODE (desc): message`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = if self.is_error() { "error" } else { "warning" };
        let place = self.locations.last();
        match place {
            Some(l) => write!(f, "{}:{}:{}: {sev}: ", l.file, l.pos.line, l.pos.column)?,
            None => write!(f, "{sev}: ")?,
        }
        if let Some(item) = self.item() {
            if item.item_name.is_empty() {
                write!(f, "{}", item.item_type.as_str())?;
            } else {
                write!(f, "{} '{}'", item.item_type.as_str(), item.item_name)?;
            }
            // An exception is named after the rule that holds it.
            for inner in self.locations.iter().skip(1) {
                if inner.item_type == ItemType::Exception && !inner.item_name.is_empty() {
                    write!(f, " {} '{}'", inner.item_type.as_str(), inner.item_name)?;
                }
            }
            f.write_str(": ")?;
        }
        write!(f, "{} ({}): {}", self.code, self.code.description(), self.message)
    }
}
