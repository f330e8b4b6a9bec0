//! Netflix Eureka for `sd`.
//!
//! This crate holds the Eureka wire model ([`InstanceInfo`], [`Application`],
//! [`Applications`]) and its codecs: tolerant decoders for every JSON and XML form real
//! servers send ([`decode`], [`decode_any`]), strict encoders for what they accept
//! ([`encode_instance`], [`encode_applications`]), the reconcile hash code and delta
//! application.
//!
//! ```
//! use sd_eureka::{decode_any, Format, Status};
//!
//! let xml = br#"<applications><versions__delta>1</versions__delta>
//!   <apps__hashcode>UP_1_</apps__hashcode>
//!   <application><name>ORDERS</name><instance>
//!     <instanceId>a:orders:8080</instanceId><hostName>a</hostName><app>ORDERS</app>
//!     <ipAddr>10.0.0.5</ipAddr><status>UP</status><port enabled="true">8080</port>
//!   </instance></application></applications>"#;
//! let (format, document) = decode_any(xml).unwrap();
//! assert_eq!(format, Format::Xml);
//! let registry = document.into_applications();
//! assert!(registry.is_consistent());
//! let (app, instance) = registry.instances().next().unwrap();
//! assert_eq!((app, instance.status, instance.address().as_str()), ("ORDERS", Status::Up, "10.0.0.5:8080"));
//! ```

// Library code handles every failure; tests and benches may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod codec;
mod connection;
mod delta;
mod error;
mod instancer;
mod model;
mod registrar;

pub use codec::{
    Format, decode, decode_any, encode, encode_application, encode_applications, encode_instance,
};
pub use connection::{Connection, ConnectionBuilder};
pub use delta::reconcile_hash_code;
pub use error::{DecodeError, EncodeError, Error};
pub use instancer::{Instancer, InstancerBuilder, InstancerStats};
pub use model::{
    AMAZON_DATA_CENTER_CLASS, ActionType, Application, Applications, DEFAULT_DATA_CENTER_CLASS,
    DataCenterInfo, Document, InstanceInfo, LeaseInfo, Metadata, Port, Status,
};
pub use registrar::{Registrar, RegistrarStats};
