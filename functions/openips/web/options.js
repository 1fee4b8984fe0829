// The job's UploadPostJob options: the JSON editor holds all of them, the form controls the
// common ones; each writes the other, so a field only the JSON sets survives a control change.

const $$ = (form, selector) => [...form.querySelectorAll(selector)];

export const DEFAULT_OPTIONS = { overwrite: true, readyForPublish: true, createMask: false,
                                 preserveCrop: true, emailSetting: "None" };

function number(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

// Controls → options, on top of what the JSON already holds.
export function applyControls(form, base) {
  const options = structuredClone(base);
  for (const input of $$(form, "[data-option]")) {
    options[input.dataset.option] = input.type === "checkbox" ? input.checked : input.value;
  }
  const crop = Object.fromEntries($$(form, "[data-crop]").map((input) => [input.dataset.crop, number(input)]));
  if (Object.values(crop).some((value) => value !== null)) {
    options.manualCropOptions = Object.fromEntries(Object.entries(crop).map(([edge, value]) => [edge, value ?? 0]));
  } else delete options.manualCropOptions;

  const autoCrop = form.querySelector("[data-choice=autoCrop]").value;
  if (autoCrop === "color") {
    options.autoColorCropOptions = options.autoColorCropOptions || { corner: "UpperLeft", tolerance: 0.1 };
    delete options.autoTransparentCropOptions;
  } else if (autoCrop === "transparent") {
    options.autoTransparentCropOptions = options.autoTransparentCropOptions || { tolerance: 0.1 };
    delete options.autoColorCropOptions;
  } else {
    delete options.autoColorCropOptions;
    delete options.autoTransparentCropOptions;
  }

  const color = form.querySelector("[data-choice=color]").value;
  if (color) options.colorManagementOptions = { ...(options.colorManagementOptions || {}), colorManagement: color };
  else delete options.colorManagementOptions;

  const usm = Object.fromEntries($$(form, "[data-usm]").map((input) => [input.dataset.usm, number(input)]));
  if (usm.amount !== null) {
    options.unsharpMaskOptions = Object.fromEntries(Object.entries(usm).filter(([, value]) => value !== null));
  } else delete options.unsharpMaskOptions;

  for (const select of $$(form, "[data-process]")) {
    const name = select.dataset.process;
    const rest = { ...(options[name] || {}) };
    delete rest.process;
    if (select.value) options[name] = { ...rest, process: select.value };
    else if (Object.keys(rest).length) options[name] = rest;
    else delete options[name];
  }
  return options;
}

// Options → controls (after the JSON was edited).
export function showOptions(form, options) {
  for (const input of $$(form, "[data-option]")) {
    const value = options[input.dataset.option];
    if (input.type === "checkbox") input.checked = value === true;
    else if (typeof value === "string") input.value = value;
  }
  for (const input of $$(form, "[data-crop]")) {
    const value = options.manualCropOptions?.[input.dataset.crop];
    input.value = value === undefined ? "" : String(value);
  }
  form.querySelector("[data-choice=autoCrop]").value =
    options.autoColorCropOptions ? "color" : options.autoTransparentCropOptions ? "transparent" : "";
  const color = options.colorManagementOptions?.colorManagement;
  form.querySelector("[data-choice=color]").value = color === "MaintainOriginal" || color === "Convert" ? color : "";
  for (const input of $$(form, "[data-usm]")) {
    const value = options.unsharpMaskOptions?.[input.dataset.usm];
    input.value = value === undefined ? "" : String(value);
  }
  for (const select of $$(form, "[data-process]")) {
    const value = options[select.dataset.process]?.process || "";
    select.value = [...select.options].some((option) => option.value === value) ? value : "";
  }
}

// "Invalid value for uploadParams.unsharpMaskOptions.amount: …" → "uploadParams.unsharpMaskOptions.amount"
export function faultField(reason) {
  const match = /(?:field|for) ((?:uploadParams|jobName|destFolder|description|locale|companyHandle)[\w.[\]]*)/
    .exec(reason || "");
  return match ? match[1] : null;
}

// The form's element that shows faults about ``field``: the longest data-field it starts with.
export function fieldElement(form, field) {
  let best = null;
  for (const candidate of $$(form, "[data-field]")) {
    const name = candidate.dataset.field;
    if ((field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`))
        && (!best || name.length > best.dataset.field.length)) best = candidate;
  }
  return best;
}
