//! XML as the query protocol answers: a small writer that escapes text, the response
//! envelope `<{Action}Response xmlns=..><{Action}Result>..</{Action}Result>
//! <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata></{Action}Response>`, and
//! the error body botocore's query parser reads:
//! `<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
//! <RequestId>..</RequestId></ErrorResponse>`.

use std::fmt::Write;

/// Escapes text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters even escaped; AWS drops them too.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Builds an XML document element by element. Names are ours (model member names), so
/// only text is escaped.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(text));
        self
    }

    /// `<name>…</name>` with `inner` writing the children.
    pub fn element(&mut self, name: &str, inner: impl FnOnce(&mut Self)) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        inner(self);
        let _ = write!(self.out, "</{name}>");
        self
    }

    /// A list as the query protocol writes one: `<name><member>…</member>…</name>`.
    pub fn list<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.element(name, |x| {
            for item in items {
                x.element("member", |m| each(m, item));
            }
        })
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Who is at fault, as `<Type>` says: the caller (4xx) or the service (5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "Sender",
            Self::Receiver => "Receiver",
        }
    }

    /// The fault of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        if status >= 500 {
            Self::Receiver
        } else {
            Self::Sender
        }
    }
}

/// The body of a successful response to `action` of the API at `namespace`
/// (`https://iam.amazonaws.com/doc/2010-05-08/`); `result` writes the children of
/// `<{action}Result>`.
pub fn response(
    action: &str,
    namespace: &str,
    request_id: &str,
    result: impl FnOnce(&mut Xml),
) -> String {
    let mut x = Xml::new();
    let _ = write!(x.out, "<{action}Response xmlns=\"{}\">", escape(namespace));
    x.element(&format!("{action}Result"), result);
    x.element("ResponseMetadata", |m| {
        m.leaf("RequestId", request_id);
    });
    let _ = write!(x.out, "</{action}Response>");
    x.finish()
}

/// The body of an error response.
pub fn error(fault: Fault, code: &str, message: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.element("ErrorResponse", |r| {
        r.element("Error", |e| {
            e.leaf("Type", fault.as_str())
                .leaf("Code", code)
                .leaf("Message", message);
        })
        .leaf("RequestId", request_id);
    });
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_shape_is_the_one_botocore_reads() {
        assert_eq!(
            error(Fault::Sender, "NoSuchEntity", "The user <x> & co.", "rid-1"),
            "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>\
             <Message>The user &lt;x&gt; &amp; co.</Message></Error>\
             <RequestId>rid-1</RequestId></ErrorResponse>"
        );
        assert_eq!(Fault::of_status(503), Fault::Receiver);
        assert_eq!(Fault::of_status(404), Fault::Sender);
    }

    #[test]
    fn responses_wrap_the_result_and_the_request_id() {
        let body = response(
            "GetCallerIdentity",
            "https://sts.amazonaws.com/doc/2011-06-15/",
            "rid-2",
            |r| {
                r.leaf("Account", "000000000000")
                    .list("Tags", ["a", "b\"c"], |m, v| {
                        m.leaf("Value", v);
                    });
            },
        );
        assert_eq!(
            body,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Account>000000000000</Account>\
             <Tags><member><Value>a</Value></member><member><Value>b&quot;c</Value></member></Tags>\
             </GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>rid-2</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        );
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(escape("a\u{1}b\tc"), "ab\tc");
    }
}
