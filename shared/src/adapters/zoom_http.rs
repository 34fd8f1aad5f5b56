pub struct ZoomHttp;
