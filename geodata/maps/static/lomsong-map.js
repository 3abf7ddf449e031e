/* lomsong map helpers, served by the app itself (no outside host).
 *
 * Popups and tooltips are built with textContent, never innerHTML, so a
 * village name can never inject markup. Hexagons travel as delta-encoded
 * integers (a fraction of the GeoJSON weight) and are drawn here.
 */
(function () {
  "use strict";

  /* Search key: no diacritics, lower case, single spaces ("Bản Giòng" -> "ban giong"). */
  function fold(text) {
    return String(text)
      .replace(/[\u0111\u0110]/g, "d")
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/\s+/g, " ")
      .trim();
  }

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value === null || value === undefined ? "" : String(value);
    if (className) node.className = className;
    return node;
  }

  /* A popup table from rows [label, value, href?]; a value may be a list of lines. */
  function table(title, rows) {
    var box = document.createElement("div");
    box.className = "lomsong-popup";
    if (title) box.appendChild(text("strong", title));
    var t = document.createElement("table");
    rows.forEach(function (row) {
      var tr = t.insertRow();
      tr.appendChild(text("th", row[0]));
      var td = tr.insertCell();
      var lines = Array.isArray(row[1]) ? row[1] : [row[1]];
      lines.forEach(function (line, i) {
        if (i) td.appendChild(document.createElement("br"));
        if (row[2]) {
          var a = text("a", line);
          a.href = row[2];
          td.appendChild(a);
        } else {
          td.appendChild(document.createTextNode(line === null ? "" : String(line)));
        }
      });
    });
    box.appendChild(t);
    return box;
  }

  function popupRows(props, fields) {
    return fields
      .filter(function (f) { return props[f[1]] !== undefined; })
      .map(function (f) { return [f[0], props[f[1]], f[2] ? props[f[2]] : null]; });
  }

  /* A GeoJSON layer styled by one property, with text-only popups and tooltips.
   * opts: {style, colourBy, colours, strokeByColour, className, title, fields,
   *        tooltip, radius} */
  function featureLayer(data, opts) {
    function style(feature) {
      var s = Object.assign({}, opts.style || {});
      if (opts.colourBy) {
        var colour = opts.colours[feature.properties[opts.colourBy]] || "#9e9e9e";
        s.fillColor = colour;
        if (opts.strokeByColour) s.color = colour;
      }
      if (opts.className) s.className = opts.className;
      return s;
    }
    return L.geoJSON(data, {
      style: style,
      pointToLayer: function (feature, latlng) {
        var s = style(feature);
        s.radius = opts.radius || 4;
        return L.circleMarker(latlng, s);
      },
      onEachFeature: function (feature, layer) {
        var props = feature.properties;
        if (opts.fields) {
          layer.bindPopup(function () {
            return table(opts.title ? props[opts.title] : null, popupRows(props, opts.fields));
          }, { maxWidth: 360 });
        }
        if (opts.tooltip) {
          layer.bindTooltip(function () { return text("span", props[opts.tooltip]); });
        }
      },
    });
  }

  /* Hexagons from {s: scale, c: [[lat0, lng0, dlat1, dlng1, ...]], v: [class index],
   * n: [readings], e: [evidence index]}; opts: {colours, labels, evidence, readings,
   * className, canvas}. */
  function hexLayer(data, opts) {
    var group = L.featureGroup();
    var renderer = opts.canvas ? L.canvas() : undefined;
    var s = data.s;
    for (var i = 0; i < data.c.length; i++) {
      var a = data.c[i];
      var lat = a[0];
      var lng = a[1];
      var points = [[lat / s, lng / s]];
      for (var k = 2; k < a.length; k += 2) {
        lat += a[k];
        lng += a[k + 1];
        points.push([lat / s, lng / s]);
      }
      var colour = opts.colours[data.v[i]];
      var hex = L.polygon(points, {
        color: colour, weight: 0.5, fillColor: colour, fillOpacity: 0.55,
        className: opts.className, renderer: renderer,
      });
      hex.lomsongInfo = [opts.labels[data.v[i]], opts.evidence[data.e[i]],
        opts.readings + ": " + data.n[i]];
      group.addLayer(hex);
    }
    group.bindTooltip(function (layer) {
      return text("span", (layer.lomsongInfo || []).join(" · "));
    }, { sticky: true });
    return group;
  }

  /* Client-side search over [label, folded key, url, context] entries. */
  function search(input, list, entries, limit) {
    function update() {
      var q = fold(input.value);
      list.textContent = "";
      if (!q) return;
      var shown = 0;
      for (var i = 0; i < entries.length && shown < limit; i++) {
        if (entries[i][1].indexOf(q) === -1) continue;
        var li = document.createElement("li");
        var a = text("a", entries[i][0]);
        a.href = entries[i][2];
        li.appendChild(a);
        li.appendChild(text("span", " — " + entries[i][3], "lomsong-context"));
        list.appendChild(li);
        shown++;
      }
    }
    input.addEventListener("input", update);
    update();
  }

  window.lomsong = { fold: fold, featureLayer: featureLayer, hexLayer: hexLayer, search: search };
})();
