import{l as t,w as e}from"./B8vPeB6P.js";function w(i,o){t(window,["resize"],()=>e(()=>o(window[i])))}export{w as b};
