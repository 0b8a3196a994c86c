function n(e){return e&&encodeURIComponent(e)}function o(e){return e&&decodeURIComponent(e)}export{o as d,n as e};
