//! The screening stream: HLS playlists rewritten to carry the viewer's token, and media files
//! served from the event's folder and nowhere else.

pub mod edge;
pub mod files;
pub mod media;
pub mod origin;
pub mod playlist;
pub mod premiere;
pub mod zero_copy;
