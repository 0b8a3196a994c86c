import{h as t}from"./BqNaQ_Wm.js";function e(s){return s?t(s,"statusCode","statusText","response"):!1}export{e as i};
