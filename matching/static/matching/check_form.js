// The web check form: posts the file, then draws the returned boxes over the picked image
// (from an object URL: the server keeps no media) or polls a video job until it ends.
(function () {
  "use strict";
  const form = document.getElementById("check-form");
  if (!form) return;
  const slug = form.dataset.organisation;
  const history = form.dataset.history;
  const fileInput = document.getElementById("id_file");
  const button = document.getElementById("check-submit");
  const status = document.getElementById("check-status");
  const progress = document.getElementById("check-progress");
  const section = document.getElementById("check-result");
  const canvas = document.getElementById("result-canvas");
  const COLOURS = { blocked: "#b3261e", needs_review: "#c77700", consented: "#1e7a3c", clear: "#0b5cad" };
  const LABELS = { blocked: "blocked", needs_review: "needs review", consented: "consented", clear: "clear" };

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "muted";
  }

  function drawBoxes(file, faces) {
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.onload = function () {
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 250));
      context.font = "bold " + (line * 7) + "px system-ui, sans-serif";
      faces.forEach(function (face, index) {
        const [top, right, bottom, left] = face.box;
        const colour = COLOURS[face.verdict] || "#0b5cad";
        context.lineWidth = line;
        context.strokeStyle = colour;
        context.strokeRect(left, top, right - left, bottom - top);
        const label = (index + 1) + ": " + (LABELS[face.verdict] || face.verdict);
        const width = context.measureText(label).width + line * 2;
        const height = line * 9;
        const y = top - height >= 0 ? top - height : bottom;
        context.fillStyle = colour;
        context.fillRect(left - line / 2, y, width, height);
        context.fillStyle = "#fff";
        context.fillText(label, left + line / 2, y + height - line * 2);
      });
      canvas.hidden = false;
      canvas.dataset.boxes = String(faces.length);
      URL.revokeObjectURL(url);
    };
    image.src = url;
  }

  function show(check, file) {
    const result = check.result || {};
    const faces = result.faces || [];
    const verdict = document.getElementById("result-verdict");
    verdict.textContent = LABELS[result.verdict] || result.verdict || check.status;
    verdict.className = "verdict verdict-" + (result.verdict || "none");
    document.getElementById("result-summary").textContent =
      faces.length === 0 ? "No face was found." :
      faces.length + (faces.length === 1 ? " face" : " faces") + " found, checked for " + check.category + " use.";
    const rows = document.querySelector("#result-faces tbody");
    rows.textContent = "";
    const video = check.kind === "video";
    document.querySelectorAll("#result-faces .video-only").forEach(function (cell) { cell.hidden = !video; });
    faces.forEach(function (face, index) {
      const row = rows.insertRow();
      row.className = "face-row";
      const cells = [String(index + 1), LABELS[face.verdict] || face.verdict, face.match,
        face.distance === null ? "" : String(face.distance)];
      if (video) cells.push(face.start_s === undefined || face.start_s === null ? "" : face.start_s + " s to " + face.end_s + " s");
      cells.forEach(function (text) { row.insertCell().textContent = text; });
      row.cells[1].style.color = COLOURS[face.verdict] || "";
    });
    const detail = history + check.id + "/";
    document.getElementById("result-link").href = detail;
    document.getElementById("result-receipt").href = detail + "receipt.json";
    canvas.hidden = true;
    if (!video && file && file.type.indexOf("image/") === 0) drawBoxes(file, faces);
    section.hidden = false;
    section.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function poll(check) {
    progress.hidden = false;
    progress.value = check.progress || 0;
    say("Video queued: the analysis runs in the background (" + (check.progress || 0) + "%).");
    const done = ["done", "failed", "cancelled"];
    function next() {
      fetch("/api/v1/checks/" + check.id, { headers: { "X-Organisation": slug, "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json().then(function (body) { return [response, body]; }); })
        .then(function ([response, body]) {
          if (!response.ok) { say((body.error && body.error.message) || "The check could not be read.", true); button.disabled = false; return; }
          progress.value = body.progress;
          if (done.indexOf(body.status) === -1) {
            say("Analysing the video: " + body.progress + "%.");
            setTimeout(next, 1000);
            return;
          }
          progress.hidden = true;
          button.disabled = false;
          if (body.status === "done") { say("Done."); show(body, null); }
          else say("The video check " + body.status + ": " + ((body.error && body.error.message) || "no reason given") + ".", true);
        })
        .catch(function () { say("The connection was lost; retrying…", true); setTimeout(next, 3000); });
    }
    setTimeout(next, 500);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file) { say("Choose an image or a video to check.", true); return; }
    button.disabled = true;
    section.hidden = true;
    say("Uploading and checking " + file.name + "…");
    fetch(form.action || window.location.href, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value, "Accept": "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().catch(function () {
          return { error: { message: "The server answered " + response.status + " without a result; try again." } };
        }).then(function (body) { return [response, body]; });
      })
      .then(function ([response, body]) {
        if (response.status === 202) { poll(body); return; }
        button.disabled = false;
        if (!response.ok) { say((body.error && body.error.message) || "The check failed.", true); return; }
        say("Done.");
        show(body, file);
      })
      .catch(function () { button.disabled = false; say("The upload failed: check your connection and try again.", true); });
  });
})();
